"""ProcessExecutor with real worker processes, driven the way users drive it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from metalab.capture import Capture
from metalab.executor._worker import NestedRunError
from metalab.executor.process import ProcessExecutor
from metalab.experiment import Experiment
from metalab.operation import operation
from metalab.params import grid
from metalab.runner import run
from metalab.seeds import seeds
from metalab.types import Status
from tests.integration.api.user_scripts import run_script

UNGUARDED_SCRIPT = """
import logging
import os
import sys

import metalab


@metalab.operation
def train(params, capture):
    logging.getLogger("somelib").warning("somelib ran x=%s", params["x"])
    capture.metric("y", params["x"] * 10)
    capture.metric("pid", os.getpid())


exp = metalab.Experiment(
    name="sweep", version="1", context={}, operation=train,
    params=metalab.grid(x=[1, 2, 3, 4]), seeds=metalab.seeds(base=5, replicates=1),
)
# No `if __name__ == "__main__":` guard, on purpose.
with metalab.ProcessExecutor(max_workers=2) as executor:
    results = metalab.run(exp, store=sys.argv[1], executor=executor, verbose=False).result()
print("parent", os.getpid())
print("results", len(results))
"""


def test_an_unguarded_script_sweeps_once(tmp_path: Path) -> None:
    script = tmp_path / "sweep.py"
    script.write_text(UNGUARDED_SCRIPT)
    done = run_script(script, str(tmp_path / "store"))
    assert "results 4" in done.stdout
    parent = int(done.stdout.split("parent ")[1].split()[0])
    root = tmp_path / "store" / "sweep_1"
    manifests = list((root / "experiments").glob("*.json"))
    assert len(manifests) == 1
    manifest = json.loads(manifests[0].read_text())
    assert manifest["operation"]["ref"] == "sweep.py:train"
    records = [json.loads(p.read_text()) for p in (root / "runs").glob("*.json")]
    assert len(records) == 4
    assert {r["status"] for r in records} == {"success"}
    assert sorted(r["metrics"]["y"] for r in records) == [10, 20, 30, 40]
    assert parent not in {r["metrics"]["pid"] for r in records}
    assert {r["provenance"]["executor_id"] for r in records} == {"process"}
    logs = "".join(p.read_text() for p in (root / "logs").glob("*logging*"))
    assert "somelib ran x=3" in logs


def test_local_operations_reach_workers_by_value(tmp_path: Path) -> None:
    factor = 7

    @operation
    def scaled(params: dict[str, Any], capture: Capture) -> None:
        capture.metric("y", params["x"] * factor)
        capture.metric("pid", os.getpid())

    exp = Experiment(
        name="local",
        version="1",
        context={},
        operation=scaled,
        params=grid(x=[1, 2, 3]),
        seeds=seeds(base=1, replicates=2),
    )
    with ProcessExecutor(max_workers=2) as executor:
        handle = run(exp, store=str(tmp_path), executor=executor, verbose=False)
        results = handle.result()
        again = run(exp, store=str(tmp_path), executor=executor, verbose=False)
        again.result()
    assert sorted(r.metrics["y"] for r in results) == [7, 7, 14, 14, 21, 21]
    assert os.getpid() not in {r.metrics["pid"] for r in results}
    assert again.status.skipped == 6


def test_a_sweep_started_inside_a_worker_is_refused(tmp_path: Path) -> None:
    inner = Experiment(
        name="inner",
        version="1",
        context={},
        operation=operation(lambda: None),
        params=grid(x=[1]),
        seeds=seeds(base=1, replicates=1),
    )

    @operation
    def nested() -> None:
        run(inner, store=str(tmp_path / "inner"), verbose=False)

    exp = Experiment(
        name="outer",
        version="1",
        context={},
        operation=nested,
        params=grid(x=[1]),
        seeds=seeds(base=1, replicates=1),
    )
    with ProcessExecutor(max_workers=1) as executor:
        (result,) = run(exp, store=str(tmp_path), executor=executor, verbose=False).result()
    assert result.status is Status.FAILED
    assert result.record.error is not None
    assert result.record.error["type"] == NestedRunError.__name__
    assert not (tmp_path / "inner").exists()
