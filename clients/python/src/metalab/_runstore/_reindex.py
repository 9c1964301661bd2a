"""`reindex(locator)`: rebuild a PostgresStore's tables from the files under its file_root.

A file_root may hold experiments of both layouts: upstream's (``{exp}/_meta.json``, what
`metalab.run` writes) and this project's earlier one (``{exp}/experiment.json``, ``runs/{id}/``).
`reindex_layouts` rebuilds each layout's rows with its own code: the earlier layout's with
`reindex`, upstream's with ``PostgresStore.rebuild_index``.

Private module: the public name is the function `metalab._runstore.reindex` (a module of the same
name would shadow it as an attribute of the package once imported).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metalab._runstore.base import StoreConfig
from metalab._runstore.locator import resolve_store
from metalab._runstore.pgconfig import PostgresStoreConfig
from metalab._runstore.pgschema import REBUILD_VALUES
from metalab.errors import StoreError

log = logging.getLogger("metalab._runstore")

BATCH = 1000
_NOT_SPEC = ("schema", "created_at", "updated_at", "total_runs", "run_ids")


def reindex(
    locator: str | StoreConfig | Any,
    progress: Callable[[str, int], None] | None = None,
) -> int:
    """Re-read every experiment and run under ``file_root`` into PostgreSQL; return runs indexed.

    Rows of runs whose files are gone are deleted (and experiments of this ``file_root`` whose
    ``experiment.json`` is gone), so the index matches the files afterwards.
    ``progress(experiment_id, runs)`` is called after each experiment.
    """
    config = resolve_store(locator)
    if not isinstance(config, PostgresStoreConfig):
        raise StoreError(f"reindex needs a PostgreSQL store (got {config.describe()})")
    from metalab._runstore.postgres import PostgresStore

    store = PostgresStore(config)
    total = 0
    try:
        experiments = store.files.experiments()
        _forget_missing(store, experiments)
        for experiment_id in experiments:
            doc = store.files.read_experiment(experiment_id) or {"experiment_id": experiment_id}
            spec = {k: v for k, v in doc.items() if k not in _NOT_SPEC}
            spec["experiment_id"] = experiment_id
            records = store.files.read_runs(experiment_id)
            store._index_experiment(spec, int(doc.get("total_runs", len(records))))
            for start in range(0, len(records), BATCH):
                store.index_runs(records[start : start + BATCH])
            with store._errors("delete stale rows"):
                store.conn.execute(
                    "DELETE FROM runs WHERE experiment_id = %s AND NOT (run_id = ANY(%s))",
                    (experiment_id, [r.run_id for r in records]),
                )
                store.conn.execute(
                    "DELETE FROM metric_steps WHERE experiment_id = %s", (experiment_id,)
                )
            with store._errors("rebuild run values"), store.conn.transaction():
                for statement in REBUILD_VALUES:
                    store.conn.execute(statement, (experiment_id,))
            for record in records:
                steps = store.files.read_steps(experiment_id, record.run_id)
                if steps:
                    store.index_steps(experiment_id, record.run_id, steps)
            total += len(records)
            log.info("reindexed %s: %d runs", experiment_id, len(records))
            if progress is not None:
                progress(experiment_id, len(records))
    finally:
        store.close()
    return total


@dataclass(frozen=True)
class Reindexed:
    """Records indexed per layout of the file_root's experiments."""

    upstream: int
    earlier: int

    @property
    def total(self) -> int:
        return self.upstream + self.earlier


def layouts_under(file_root: Path) -> set[str]:
    """The layouts (`metalab.workspace.orphans.UPSTREAM`/``EARLIER``) of the experiment directories
    under ``file_root``; a directory that is neither (``services/``, empty) counts as none."""
    from metalab.workspace.orphans import EARLIER, UPSTREAM, layout_of

    try:
        children = [child for child in file_root.iterdir() if child.is_dir()]
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise StoreError(f"cannot list {file_root}: {exc.strerror}") from exc
    found = set()
    for child in children:
        if layout_of(child) == EARLIER:
            found.add(EARLIER)
        elif (child / "_meta.json").is_file():
            found.add(UPSTREAM)
    return found


def reindex_layouts(
    config: PostgresStoreConfig,
    on_experiment: Callable[[str, int], None] | None = None,
    on_phase: Callable[[str, int, int], None] | None = None,
) -> Reindexed:
    """Rebuild the index of every experiment under ``config.file_root``, each layout its way.

    The earlier layout's rows are always rebuilt (rows of its experiments whose files are gone
    are dropped); upstream's only when such an experiment exists, as opening an upstream
    PostgresStore writes upstream's layout into ``file_root``. ``on_experiment(id, runs)``
    reports the earlier layout's progress, ``on_phase(phase, done, total)`` upstream's.
    """
    from metalab.workspace.orphans import UPSTREAM

    upstream = 0
    if UPSTREAM in layouts_under(Path(config.file_root)):
        from metalab.store.locator import parse_to_config
        from metalab.store.postgres import PostgresStore as UpstreamStore

        store = parse_to_config(config.dsn, file_root=config.file_root).connect()
        if not isinstance(store, UpstreamStore):
            raise StoreError(f"{config.describe()} did not open as a PostgresStore")
        try:
            upstream = store.rebuild_index(on_phase)
        finally:
            store.close()
    return Reindexed(upstream=upstream, earlier=reindex(config, on_experiment))


def _forget_missing(store: Any, experiments: list[str]) -> None:
    """Drop the rows of experiments indexed under this file_root whose files are gone."""
    with store._errors("delete experiments whose files are gone"), store.conn.transaction():
        rows = store.conn.execute(
            "SELECT experiment_id FROM experiments WHERE file_root = %s "
            "AND NOT (experiment_id = ANY(%s))",
            (store.config.file_root, experiments),
        ).fetchall()
        gone = [row[0] for row in rows]
        if gone:
            for table in ("metric_steps", "runs", "run_versions", "experiments"):
                store.conn.execute(
                    f"DELETE FROM {table} WHERE experiment_id = ANY(%s)",  # noqa: S608 - fixed names
                    (gone,),
                )
            log.info("forgot %d experiment(s) whose files are gone: %s", len(gone), gone)
