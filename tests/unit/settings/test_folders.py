"""Auxiliary folders with real files: backup, move, restore, worker, orphans."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from metalab.workspace.folders import (
    NO_ARCHIVE_MARKER,
    ArchiveProgress,
    FolderError,
    FolderWorker,
    archive_run,
    operations,
    primitives,
    recover_run,
    restore_if_archived,
    tree_digest,
)
from metalab.workspace.folders import worker as worker_module
from metalab.workspace.orphans import ORPHAN, RECOVERABLE, clean, find_orphans
from metalab.workspace.settings import Folder, SshConfig, Workspace

REL = Path("exp") / "runs" / "r1"


def make_run(root: Path, rel: Path = REL, status: str = "completed") -> Path:
    run = root / rel
    (run / "logs").mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"status": status}))
    (run / "logs" / "stdout.txt").write_text("hello\n" * 100)
    (run / "artifacts").mkdir()
    (run / "artifacts" / "model.bin").write_bytes(os.urandom(4096))
    (run / "worker.lock").write_text("x")
    (run / "job.pid").write_text("1")
    (run / ".scheduler").mkdir()
    (run / ".scheduler" / "state").write_text("s")
    return run


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(
        id="w",
        path=tmp_path / "ws",
        folders=(
            Folder(tmp_path / "backup", "backup"),
            Folder(tmp_path / "fast", "move"),
            Folder(tmp_path / "old", "use"),
        ),
    )


def leftovers(*roots: Path) -> list[Path]:
    return [p for r in roots if r.exists() for p in r.rglob(".tmp.*")]


@pytest.mark.parametrize("exchange", [True, False])
def test_backup_then_move(ws, tmp_path, monkeypatch, exchange):
    monkeypatch.setattr(primitives, "EXCHANGE_ENABLED", exchange)
    run = make_run(ws.path)
    before = tree_digest(run)
    results = archive_run(run, ws)
    assert [r.outcome for r in results] == ["copied", "moved"]
    backup, moved = tmp_path / "backup" / REL, tmp_path / "fast" / REL
    assert tree_digest(backup) == tree_digest(moved) == before
    assert not (backup / "worker.lock").exists() and not (backup / "job.pid").exists()
    assert not (backup / ".scheduler").exists()
    assert run.is_symlink() and run.resolve() == moved.resolve()
    assert not leftovers(ws.path, tmp_path / "backup", tmp_path / "fast")
    # idempotent: archiving again changes nothing
    assert [r.outcome for r in archive_run(run, ws)] == ["copied", "skipped: already moved"]


def test_newer_attempt_replaces_older_backup(ws, tmp_path):
    ws = Workspace("w", ws.path, folders=(Folder(tmp_path / "backup", "backup"),))
    run = make_run(ws.path)
    archive_run(run, ws)
    (run / "logs" / "stdout.txt").write_text("second attempt\n")
    archive_run(run, ws)
    assert (tmp_path / "backup" / REL / "logs" / "stdout.txt").read_text() == "second attempt\n"
    assert not leftovers(tmp_path / "backup")


def test_unfinished_and_opted_out_runs_are_not_archived(ws, tmp_path):
    failed = make_run(ws.path, Path("exp/runs/failed"), status="failed")
    assert {r.outcome for r in archive_run(failed, ws)} == {"skipped: status failed"}
    opted = make_run(ws.path, Path("exp/runs/opted"))
    (opted / NO_ARCHIVE_MARKER).touch()
    assert {r.outcome for r in archive_run(opted, ws)} == {"skipped: opted out"}
    assert not (tmp_path / "backup").exists() and not opted.is_symlink()


def test_verification_failure_keeps_the_source(ws, tmp_path, monkeypatch):
    run = make_run(ws.path)
    original = primitives.copy_tree

    def corrupt(source, destination):
        original(source, destination)
        (destination / "artifacts" / "model.bin").write_bytes(b"bad")

    monkeypatch.setattr(operations, "copy_tree", corrupt)
    results = archive_run(run, ws)
    assert all(r.outcome.startswith("failed: copy of") for r in results)
    assert run.is_dir() and not run.is_symlink()
    assert not (tmp_path / "fast" / REL).exists()
    assert not leftovers(tmp_path / "backup", tmp_path / "fast")


def test_worker_never_blocks_and_drains_with_progress(ws, tmp_path, monkeypatch):
    gate = threading.Event()
    original = operations.archive_run

    def slow(run_dir, workspace):
        gate.wait(10)
        return original(run_dir, workspace)

    monkeypatch.setattr(worker_module, "archive_run", slow)
    runs = [make_run(ws.path, Path(f"exp/runs/r{i}")) for i in range(3)]
    seen: list[ArchiveProgress] = []
    with FolderWorker(ws) as worker:
        for run in runs:
            worker.submit(run)  # returns at once although the worker is stuck
        assert not any(r.is_symlink() for r in runs)
        gate.set()
        report = worker.drain(seen.append)
    assert report.pending == 0 and not report.failures and len(report.results) == 6
    assert seen[-1].done == seen[-1].total == 3
    assert all(r.is_symlink() for r in runs)


def test_worker_opt_out_and_inactive_cases(ws, tmp_path):
    run = make_run(ws.path)
    worker = FolderWorker(ws, enabled=False)
    worker.submit(run)
    assert worker.drain().results == [] and not run.is_symlink()
    worker = FolderWorker(ws)
    worker.submit(run, archive=False)
    assert worker.drain().results == []
    assert not FolderWorker(None).active
    remote = Workspace("c", Path("/r"), folders=ws.folders, ssh=_ssh())
    assert not FolderWorker(remote).active


def _ssh() -> SshConfig:
    return SshConfig(host="h")


def test_restore_before_execution(ws, tmp_path):
    run = make_run(ws.path)
    archive_run(run, ws)
    expected = tree_digest(tmp_path / "backup" / REL)
    # the primary symlink and the fast tier are lost: the backup copy comes back
    run.unlink()
    import shutil

    shutil.rmtree(tmp_path / "fast")
    assert restore_if_archived(REL, ws) is True
    assert run.is_dir() and not run.is_symlink() and tree_digest(run) == expected
    assert restore_if_archived(REL, ws) is False  # present now
    assert restore_if_archived("exp/runs/unknown", ws) is False
    assert restore_if_archived(REL, None) is False


def test_use_folders_are_read_only_lookups(ws, tmp_path):
    make_run(tmp_path / "old")
    before = tree_digest(tmp_path / "old")
    assert restore_if_archived(REL, ws) is True
    assert tree_digest(tmp_path / "old") == before
    incomplete = make_run(tmp_path / "old", Path("exp/runs/r2"), status="failed")
    assert restore_if_archived("exp/runs/r2", ws) is False and incomplete.exists()


def test_dangling_symlink_without_any_copy_is_an_error(ws, tmp_path):
    run = ws.path / REL
    run.parent.mkdir(parents=True)
    run.symlink_to(tmp_path / "unmounted" / "x")
    with pytest.raises(FolderError, match="is the move folder mounted"):
        restore_if_archived(REL, ws)


def test_recover_and_bad_paths(ws, tmp_path):
    make_run(tmp_path / "backup")
    folder = recover_run(REL, ws)
    assert folder is not None and folder.mode == "backup" and (ws.path / REL).is_dir()
    assert recover_run(REL, ws) is None
    with pytest.raises(FolderError, match="not in workspace w nor in any folder"):
        recover_run("exp/runs/missing", ws)
    for bad in ("/abs", "../up", "exp/../../x"):
        with pytest.raises(FolderError):
            restore_if_archived(bad, ws)


def test_orphans_and_clean_never_follow_symlinks(ws, tmp_path):
    (ws.path / "exp").mkdir(parents=True)
    (ws.path / "exp" / "experiment.json").write_text(json.dumps({"run_ids": ["keep", "moved"]}))
    make_run(ws.path, Path("exp/runs/keep"))
    make_run(ws.path, Path("exp/runs/stray"))
    gone = make_run(ws.path, Path("exp/runs/gone-unreferenced"))
    moved = make_run(ws.path, Path("exp/runs/moved"))
    archive_run(moved, ws)
    archive_run(gone, ws)  # archived, then no experiment refers to it any more
    make_run(ws.path, Path("deleted-exp/runs/x"))  # experiment.json gone
    make_run(tmp_path / "backup", Path("exp/runs/only-archived"))
    archive_copy = tmp_path / "fast" / "exp" / "runs" / "gone-unreferenced"
    before = tree_digest(archive_copy)

    entries = {(e.kind, e.name) for e in find_orphans(ws)}
    assert entries == {
        (ORPHAN, "exp/stray"),
        (ORPHAN, "deleted-exp/x"),
        (RECOVERABLE, "exp/gone-unreferenced"),
        (RECOVERABLE, "exp/only-archived"),
    }
    without = find_orphans(ws, use_folders=False)
    assert {(e.kind, e.name) for e in without} == {
        (ORPHAN, "exp/stray"),
        (ORPHAN, "deleted-exp/x"),
        (ORPHAN, "exp/gone-unreferenced"),
    }
    clean(without)  # removes the symlink only, never what it points to
    assert not (ws.path / "exp/runs/gone-unreferenced").is_symlink()
    assert tree_digest(archive_copy) == before
    assert not (ws.path / "exp/runs/stray").exists()
    assert (ws.path / "exp/runs/keep").is_dir() and (ws.path / "exp/runs/moved").is_symlink()
    assert (tmp_path / "backup" / "exp/runs/only-archived").is_dir()


def test_clean_never_goes_through_a_linked_runs_directory(ws, tmp_path):
    make_run(tmp_path / "fast", Path("exp/runs/r1"))
    (ws.path / "linked").mkdir(parents=True)
    (ws.path / "linked" / "runs").symlink_to(tmp_path / "fast" / "exp" / "runs")
    (ws.path / "exp-link").symlink_to(tmp_path / "fast" / "exp")
    before = tree_digest(tmp_path / "fast")
    entries = find_orphans(ws, use_folders=False)
    assert [e for e in entries if e.kind == ORPHAN] == []
    clean(entries)
    assert tree_digest(tmp_path / "fast") == before
