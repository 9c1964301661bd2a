"""Kill the archive worker between every pair of steps: the run is never lost.

A subprocess archives one run (backup + move) with a `primitives.CHECKPOINT` hook that calls
``os._exit`` at the k-th step, for every k, with and without ``RENAME_EXCHANGE``. After each
crash the workspace path must hold the complete run (the old directory or the symlink to a
complete copy); a later `sweep_stale` (the owner is dead) leaves no ``.tmp.*`` behind, and a
second archive completes the move.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from metalab.workspace.folders import archive_run, restore_if_archived, sweep_stale, tree_digest
from metalab.workspace.settings import Folder, Workspace

SCRIPT = r"""
import json, os, sys
from pathlib import Path
from metalab.workspace import folders
from metalab.workspace.folders import primitives
from metalab.workspace.settings import Folder, Workspace

root, crash_at, exchange, action = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
primitives.EXCHANGE_ENABLED = exchange == "1"
steps = []

def hook(name):
    steps.append(name)
    (root / "steps.json").write_text(json.dumps(steps))
    if len(steps) == crash_at:
        os._exit(17)

primitives.CHECKPOINT = hook
ws = Workspace("w", root / "ws", folders=(Folder(root / "backup", "backup"),
                                         Folder(root / "fast", "move")))
if action == "archive":
    results = folders.archive_run(root / "ws/exp/runs/r1", ws)
    assert all(r.ok for r in results), results
else:
    assert folders.restore_if_archived("exp/runs/r1", ws)
"""

REL = Path("exp/runs/r1")


def workspace(root: Path) -> Workspace:
    return Workspace(
        "w", root / "ws", folders=(Folder(root / "backup", "backup"), Folder(root / "fast", "move"))
    )


def make_run(root: Path) -> dict[str, tuple[str, int, str]]:
    run = root / "ws" / REL
    (run / "artifacts" / "deep").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"status": "completed"}))
    (run / "artifacts" / "deep" / "weights.bin").write_bytes(os.urandom(1 << 16))
    (run / "metrics.jsonl").write_text('{"name": "loss", "step": 1, "value": 0.5}\n')
    (run / "artifacts" / "link").symlink_to("deep/weights.bin")
    return tree_digest(run)


def run_script(root: Path, crash_at: int, exchange: bool, action: str = "archive") -> int:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(root), str(crash_at), "1" if exchange else "0", action],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 17), done.stderr
    return done.returncode


def steps_of(root: Path) -> list[str]:
    steps: list[str] = json.loads((root / "steps.json").read_text())
    return steps


def assert_run_intact(root: Path, expected: dict[str, tuple[str, int, str]]) -> str:
    run = root / "ws" / REL
    assert tree_digest(run) == expected, "the workspace path lost the run"
    if run.is_symlink():
        assert run.resolve() == (root / "fast" / REL).resolve()
        return "new"
    assert run.is_dir()
    return "old"


def sweep_all(root: Path) -> None:
    for base in ("ws", "backup", "fast"):
        sweep_stale(root / base / "exp" / "runs")
    assert not [p for p in root.rglob(".tmp.*")], "leftover temporaries after the sweep"


def all_steps(tmp_path: Path, exchange: bool, action: str = "archive") -> list[str]:
    probe = tmp_path / "probe"
    make_run(probe)
    if action == "restore":
        archive_run(probe / "ws" / REL, workspace(probe))
        (probe / "ws" / REL).unlink()
    assert run_script(probe, 10_000, exchange, action) == 0
    return steps_of(probe)


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_crash_at_every_step_of_backup_and_move(tmp_path, exchange):
    steps = all_steps(tmp_path, exchange)
    assert "swapped" in steps and "copied" in steps
    states = set()
    for k in range(1, len(steps) + 1):
        root = tmp_path / f"k{k}"
        expected = make_run(root)
        assert run_script(root, k, exchange) == 17
        assert steps_of(root)[-1] == steps[k - 1]
        run = root / "ws" / REL
        if exchange or run.exists():
            states.add(assert_run_intact(root, expected))  # immediately after the crash
        else:
            # two renames: the one window where the path is missing; the set-aside directory
            # holds the complete run and the sweep puts it back
            assert steps[k - 1] == "set-aside"
            (aside,) = run.parent.glob(".tmp.r1.*.aside")
            assert tree_digest(aside) == expected
        backup = root / "backup" / REL
        assert not backup.exists() or tree_digest(backup) == expected  # never half a copy
        sweep_all(root)
        assert_run_intact(root, expected)
        # a later worker finishes the job
        results = archive_run(root / "ws" / REL, workspace(root))
        assert all(r.ok for r in results), results
        assert assert_run_intact(root, expected) == "new"
        assert tree_digest(backup) == expected
    assert states == {"old", "new"}
    if not exchange:
        assert "set-aside" in steps


def test_crash_at_every_step_of_restore(tmp_path):
    steps = all_steps(tmp_path, True, "restore")
    for k in range(1, len(steps) + 1):
        root = tmp_path / f"k{k}"
        expected = make_run(root)
        archive_run(root / "ws" / REL, workspace(root))
        (root / "ws" / REL).unlink()  # the primary symlink is lost; copies remain
        assert run_script(root, k, True, "restore") == 17
        run = root / "ws" / REL
        assert not run.exists() or tree_digest(run) == expected
        assert tree_digest(root / "fast" / REL) == expected
        sweep_all(root)
        restore_if_archived(REL, workspace(root))
        assert tree_digest(run) == expected
