"""The services' PostgreSQL index catches up with the files once the server is (back) up.

A sweep whose index writes failed (the server died or was stopped, its job ended at the
walltime or was requeued) left markers in the store's ``.index-pending`` directories
(`IndexBacklog`); the records are in the files. Once the server is up again, those writes are
redone from the files under ``file_root``: no run is lost, and none is counted twice (each
write is an upsert). The SLURM services job does it itself; a local `services up` starts
``python -m metalab_orchestrator.index_catch_up`` detached (`start_local`), so the answer of
`up` does not wait for it and a CLI that embeds the orchestrator may exit meanwhile.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # logging is imported where it logs: a warm `up` only counts the backlog
    import logging

LOG_NAME = "index-catch-up.log"
PENDING_DIR = ".index-pending"  # IndexBacklog's; not imported: a warm `status` counts too


def pending_writes(file_root: str) -> int:
    """Index writes waiting under ``file_root`` and its experiment directories, as
    `IndexBacklog.count` counts them (0 when it is unset or unreadable)."""
    if not file_root:
        return 0
    root = Path(file_root)
    try:
        dirs = [root / PENDING_DIR, *(Path(e.path) / PENDING_DIR for e in os.scandir(root))]
    except OSError:
        return 0
    total = 0
    for directory in dirs:
        try:
            total += sum(_waiting(directory, name) for name in os.listdir(directory))
        except OSError:
            continue
    return total


def _waiting(directory: Path, name: str) -> int:
    """1 for a marker; for a journal, what its writer left under way (killed between the
    files and the index)."""
    if not name.startswith("."):
        return 1
    if not name.startswith(".journal-"):
        return 0
    from metalab.core.intent_journal import left_behind  # only when one is there

    return len(left_behind(directory / name))


def _log() -> logging.Logger:
    import logging

    return logging.getLogger("metalab.slurm_job")


def catch_up(locator: str, file_root: str) -> int | None:
    """Redo the backlog under ``file_root`` through ``locator``; the writes redone, or None
    when nothing waited (no connection is made then)."""
    from metalab.store.index_backlog import IndexBacklog
    from metalab.store.locator import parse_to_config
    from metalab.store.postgres import PostgresStoreConfig

    root = Path(file_root)
    if not pending_writes(file_root) and not IndexBacklog(root, None, nested=True).pending():
        return None
    config = parse_to_config(locator)
    if not isinstance(config, PostgresStoreConfig):
        raise ValueError("the services' store locator is not a PostgreSQL one")
    with config.connect() as store:
        before = store.backlog_size()
        if not store.catch_up(now=True):
            waiting = store.backlog_size()
            _log().warning("index catch-up stopped: %d write(s) still pending", waiting)
        return before - store.backlog_size()


def start_local(locator: str, file_root: str, services_dir: Path) -> tuple[int, Path] | None:
    """Start the catch-up of a local environment in the background when writes wait; the
    number waiting and the log, or None (nothing waits: no process is started)."""
    from metalab_orchestrator.runtime.process import spawn_detached

    waiting = pending_writes(file_root)
    if not waiting or not locator.startswith("postgresql"):
        return None
    log_path = services_dir / LOG_NAME
    env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB_TOKEN")}
    argv = [sys.executable, "-m", "metalab_orchestrator.index_catch_up", locator, file_root]
    spawn_detached(argv, log_path=log_path, env=env, cwd=services_dir)
    return waiting, log_path


def main(argv: list[str] | None = None) -> int:
    """``LOCATOR FILE_ROOT``: redo the backlog; 0 when it is empty afterwards, else 1."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m metalab_orchestrator.index_catch_up")
    parser.add_argument("locator", help="The PostgreSQL store locator (holds no password).")
    parser.add_argument("file_root", help="The file root whose backlog is redone.")
    args = parser.parse_args(argv)
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stdout)
    try:
        redone = catch_up(args.locator, args.file_root)
    except Exception as exc:  # noqa: BLE001 - the files keep the runs; the next `up` retries
        _log().warning("index catch-up failed: %s", exc)
        return 1
    if redone is not None:
        _log().info("index caught up: %d write(s) redone from the files", redone)
    return 0 if pending_writes(args.file_root) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
