"""`reindex(locator)`: rebuild a PostgresStore's tables from the files under its file_root."""

from __future__ import annotations

import logging
from typing import Any

from metalab.errors import StoreError
from metalab.store.base import StoreConfig
from metalab.store.locator import resolve_store
from metalab.store.pgconfig import PostgresStoreConfig

log = logging.getLogger("metalab.store")

BATCH = 1000


def reindex(locator: str | StoreConfig | Any) -> int:
    """Re-read every experiment and run under ``file_root`` into PostgreSQL; return runs indexed.

    Rows of runs whose files are gone are deleted, so the index matches the files afterwards.
    """
    config = resolve_store(locator)
    if not isinstance(config, PostgresStoreConfig):
        raise StoreError(f"reindex needs a PostgreSQL store (got {config.describe()})")
    from metalab.store.postgres import PostgresStore

    store = PostgresStore(config)
    total = 0
    try:
        for experiment_id in store.files.experiments():
            spec = store.files.read_experiment(experiment_id) or {"experiment_id": experiment_id}
            spec = {
                k: v
                for k, v in spec.items()
                if k not in ("schema", "created_at", "updated_at", "total_runs")
            }
            records = store.files.read_runs(experiment_id)
            doc = store.files.read_experiment(experiment_id) or {}
            store._index_experiment(spec, int(doc.get("total_runs", len(records))))
            for start in range(0, len(records), BATCH):
                store.index_runs(records[start : start + BATCH])
            store.conn.execute(
                "DELETE FROM runs WHERE experiment_id = %s AND NOT (run_id = ANY(%s))",
                (experiment_id, [r.run_id for r in records]),
            )
            store.conn.execute(
                "DELETE FROM metric_steps WHERE experiment_id = %s", (experiment_id,)
            )
            for record in records:
                steps = store.files.read_steps(experiment_id, record.run_id)
                if steps:
                    store.index_steps(experiment_id, record.run_id, steps)
            total += len(records)
            log.info("reindexed %s: %d runs", experiment_id, len(records))
    finally:
        store.close()
    return total
