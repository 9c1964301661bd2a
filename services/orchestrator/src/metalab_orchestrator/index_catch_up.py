"""The services' PostgreSQL index catches up with the files once the server is (back) up.

A sweep whose index writes failed (the server died, its job ended at the walltime or was
requeued) left markers in the store's ``.index-pending`` directories (`IndexBacklog`); the
records are in the files. Started again, the services job redoes those writes from the files
under its ``file_root``: no run is lost, and none is counted twice (each write is an upsert).
"""

from __future__ import annotations

import logging
from pathlib import Path

log = logging.getLogger("metalab.slurm_job")


def catch_up(locator: str, file_root: str) -> int | None:
    """Redo the backlog under ``file_root`` through ``locator``; the writes redone, or None
    when nothing waited (no connection is made then)."""
    from metalab.store.index_backlog import IndexBacklog
    from metalab.store.locator import parse_to_config
    from metalab.store.postgres import PostgresStoreConfig

    root = Path(file_root)
    if not IndexBacklog(root, None, nested=True).pending():
        return None
    config = parse_to_config(locator)
    if not isinstance(config, PostgresStoreConfig):
        raise ValueError("the services job's store locator is not a PostgreSQL one")
    with config.connect() as store:
        before = store.backlog_size()
        if not store.catch_up(now=True):
            log.warning("index catch-up stopped: %d write(s) still pending", store.backlog_size())
        return before - store.backlog_size()
