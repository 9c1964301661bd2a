"""SlurmExecutor on the local single-node SLURM cluster, driven by user scripts."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.api.user_scripts import run_script

pytestmark = pytest.mark.slurm


SCRIPT = """
import sys
from dataclasses import dataclass

import metalab


@dataclass(frozen=True)
class Scale:
    factor: int = 3


@metalab.operation
def train(context, params, capture):
    capture.metric("y", params["x"] * context.factor)


exp = metalab.Experiment(
    name="cluster", version="1", context=Scale(), operation=train,
    params=metalab.grid(x=[1, 2, 3]), seeds=metalab.seeds(base=2, replicates=1),
)

GUARD
    config = metalab.SlurmConfig(partition=sys.argv[2], chunk_size=2, time="0:05:00")
    handle = metalab.run(exp, store=sys.argv[1], executor=metalab.SlurmExecutor(config),
                         verbose=False)
    if sys.argv[3] == "wait":
        results = handle.result(timeout=150)
        print("results", sorted((r.status.value, r.metrics.get("y")) for r in results))
    print("locator", handle.reconnect_locator)
"""

RECONNECT = """
import sys

import metalab

handle = metalab.reconnect(sys.argv[1], verbose=False)
results = handle.result(timeout=150)
print("results", sorted(r.metrics["y"] for r in results), handle.status.completed)
"""


def write(tmp_path: Path, guarded: bool) -> Path:
    script = tmp_path / "train.py"
    guard = 'if __name__ == "__main__":' if guarded else "if True:"
    script.write_text(SCRIPT.replace("GUARD", guard))
    return script


def test_runs_on_slurm_and_reconnects(tmp_path: Path, slurm_partition: str) -> None:
    done = run_script(write(tmp_path, guarded=True), str(tmp_path / "store"), slurm_partition, "no")
    locator = done.stdout.split("locator ")[1].strip()
    reconnect = tmp_path / "watch.py"
    reconnect.write_text(RECONNECT)
    watched = run_script(reconnect, locator)
    assert "results [3, 6, 9] 3" in watched.stdout
    manifest = json.loads(next((Path(locator) / "experiments").glob("*.json")).read_text())
    assert manifest["operation"]["ref"] == "train.py:train"
    records = [json.loads(p.read_text()) for p in (Path(locator) / "runs").glob("*.json")]
    tasks = {r["provenance"]["extra"]["executor"]["slurm_job"] for r in records}
    assert len(records) == 3 and len(tasks) == 2  # chunk_size=2: two array tasks
    assert all(re.fullmatch(r"[0-9]+_[01]", task) for task in tasks)


def test_an_unguarded_script_runs_and_never_sweeps_again_from_a_task(
    tmp_path: Path, slurm_partition: str
) -> None:
    done = run_script(
        write(tmp_path, guarded=False), str(tmp_path / "store"), slurm_partition, "wait"
    )
    assert "results [('success', 3), ('success', 6), ('success', 9)]" in done.stdout
    root = Path(done.stdout.split("locator ")[1].strip())
    assert len(list((root / "slurm").iterdir())) == 1  # one submission: no sweep from a task


def test_a_refused_submission_leaves_no_plan_folder(tmp_path: Path, slurm_partition: str) -> None:
    script = write(tmp_path, guarded=True)
    store = tmp_path / "store"
    failed = subprocess.run(
        [sys.executable, str(script), str(store), "no-such-partition", "no"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if not k.startswith("METALAB")},
    )
    assert failed.returncode != 0
    assert "partition" in failed.stderr.lower()
    assert not list(store.rglob("slurm")), sorted(str(p) for p in store.rglob("*"))
    done = run_script(script, str(store), slurm_partition, "no")  # the next one still submits
    assert len(list(Path(done.stdout.split("locator ")[1].strip()).glob("slurm/*"))) == 1
