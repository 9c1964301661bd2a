"""Kill a `metalab.run()` process at every step of its archive worker; the next run converges.

A subprocess runs a one-run experiment in a workspace with a ``backup`` and a ``move`` folder,
with a `primitives.CHECKPOINT` hook that calls ``os._exit`` at the k-th step, for every k (with and
without ``RENAME_EXCHANGE``). The run itself succeeded before archiving started, so after each
crash the next `metalab.run()` must not execute it again, must finish the archiving (backup and
move copies identical to the run, every entry of the run in the workspace a symlink to the move
copy) and must leave no ``.tmp.*`` behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import metalab
from metalab._archive import run_entries
from tests.integration.settings.helpers import records, rows_experiment, run_digest
from tests.integration.settings.ops import executions

REPO = Path(__file__).resolve().parents[3]

SCRIPT = r"""
import json, os, sys
from pathlib import Path
from metalab.workspace.folders import primitives
from tests.integration.settings.helpers import rows_experiment

root, crash_at, exchange = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
primitives.EXCHANGE_ENABLED = exchange
steps = []

def hook(name):
    steps.append(name)
    (root / "steps.json").write_text(json.dumps(steps))
    if len(steps) == crash_at:
        os._exit(17)

primitives.CHECKPOINT = hook
rows = [{"i": 0, "ledger": str(root / "ledger")}]
import metalab
metalab.run(rows_experiment("crash", rows), verbose=False).result()
"""

SETTINGS = """
workspaces:
  - id: main
    path: ws
    folders: [{path: backup, mode: backup}, {path: fast, mode: move}]
"""


def crash(root: Path, k: int, exchange: bool) -> int:
    root.mkdir(parents=True)
    (root / "settings.yaml").write_text(SETTINGS)
    env = {
        **os.environ,
        "METALAB_SETTINGS": str(root / "settings.yaml"),
        "PYTHONPATH": os.pathsep.join([str(REPO / "clients" / "python" / "src"), str(REPO)]),
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root), str(k), "1" if exchange else "0"],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 17), done.stderr
    return done.returncode


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_kill_at_every_archive_step_then_rerun(tmp_path, monkeypatch, exchange):
    assert crash(tmp_path / "probe", 10_000, exchange) == 0
    steps = json.loads((tmp_path / "probe" / "steps.json").read_text())
    assert "published" in steps and "swapped" in steps
    for k in range(1, len(steps) + 1):
        root = tmp_path / f"k{k}"
        assert crash(root, k, exchange) == 17
        assert executions(root / "ledger") == [0]
        monkeypatch.setenv("METALAB_SETTINGS", str(root / "settings.yaml"))
        monkeypatch.chdir(root)
        rows = [{"i": 0, "ledger": str(root / "ledger")}]
        handle = metalab.run(rows_experiment("crash", rows), verbose=False)
        assert handle.status.skipped == 1, f"k={k}"
        handle.result()
        assert executions(root / "ledger") == [0], f"k={k}"
        ws, fast = root / "ws" / "crash_1", root / "fast" / "crash_1"
        (run_id,) = records(ws)
        where = f"k={k} ({steps[k - 1]})"
        for rel in run_entries(ws, run_id):
            assert (ws / rel).is_symlink(), f"{where}: {rel}"
            assert (ws / rel).resolve() == (fast / rel).resolve(), f"{where}: {rel}"
        assert run_digest(fast, run_id) == run_digest(root / "backup" / "crash_1", run_id), where
        assert json.loads((fast / "runs" / f"{run_id}.json").read_text())["status"] == "success"
        assert not list(root.glob("**/.tmp.*")), f"{where}: leftovers"
