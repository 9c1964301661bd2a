"""PostgresIndex: run records indexed in PostgreSQL for fast queries (files stay the truth).

The index writes the project's PostgreSQL schema (`metalab._runstore.pgschema`), the one
Atlas reads, so runs recorded through this API show in Atlas:

- ``runs``: one row per run. ``params`` is ``params_resolved``; ``metrics`` the record's
  metrics merged with its derived metrics; ``status`` the record's status (upstream's
  words: Atlas counts ``success`` as done, as it does the older ``completed``);
  ``error``/``traceback`` from the error dict; ``host`` from provenance;
  ``created_at``/``started_at`` the start; ``finished_at``/``duration_s`` unset while
  running; ``seed`` 0 (records carry only a seed fingerprint); the fingerprints in their
  own columns and the whole stored record in ``record``; ``executor`` (where the run
  executes, which Atlas checks to show a killed run *lost*) from ``provenance.extra.executor``.
  ``run_values`` follows by trigger.
- ``run_derived``: derived metrics by run id (they may arrive before the record).
- ``experiments``: a row per experiment (its spec from the newest manifest) and
  ``experiment_manifests``: every manifest, by timestamp.

Rows written by the project's older run store (``record`` null) are left alone.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote, urlencode, urlparse, urlunparse

from metalab._runstore.pgschema import REBUILD_VALUES, SCHEMA_VERSION
from metalab.core.whereabouts import checked
from metalab.schema import dump_run_record, load_run_record
from metalab.store.layout import safe_experiment_id
from metalab.types import RunRecord, Status

if TYPE_CHECKING:
    import psycopg

logger = logging.getLogger(__name__)

__all__ = ["METALAB_PARAMS", "SCHEMA_VERSION", "PostgresIndex"]

METALAB_PARAMS = {"file_root", "schema", "experiment_id"}
"""Locator query parameters that are metalab's own, not libpq's."""

UPSERT_RUN = """
INSERT INTO runs (experiment_id, run_id, params, seed, status, attempt, metrics, error,
                  traceback, host, created_at, started_at, finished_at, duration_s,
                  context_fingerprint, params_fingerprint, seed_fingerprint, record, executor,
                  updated_at)
VALUES (%(experiment_id)s, %(run_id)s, %(params)s::jsonb, 0, %(status)s, 1,
        %(metrics)s::jsonb || coalesce(
            (SELECT derived FROM run_derived WHERE run_id = %(run_id)s), '{}'::jsonb),
        %(error)s, %(traceback)s, %(host)s, %(started_at)s, %(started_at)s, %(finished_at)s,
        %(duration_s)s, %(context_fingerprint)s, %(params_fingerprint)s,
        %(seed_fingerprint)s, %(record)s::jsonb, %(executor)s::jsonb, now())
ON CONFLICT (experiment_id, run_id) DO UPDATE SET
  params = EXCLUDED.params, status = EXCLUDED.status, metrics = EXCLUDED.metrics,
  error = EXCLUDED.error, traceback = EXCLUDED.traceback, host = EXCLUDED.host,
  created_at = EXCLUDED.created_at, started_at = EXCLUDED.started_at,
  finished_at = EXCLUDED.finished_at, duration_s = EXCLUDED.duration_s,
  context_fingerprint = EXCLUDED.context_fingerprint,
  params_fingerprint = EXCLUDED.params_fingerprint,
  seed_fingerprint = EXCLUDED.seed_fingerprint, record = EXCLUDED.record,
  executor = EXCLUDED.executor, updated_at = now()
"""

ADD_EXPERIMENT = """
INSERT INTO experiments (experiment_id, name, spec, file_root)
VALUES (%s, %s, %s::jsonb, %s) ON CONFLICT (experiment_id) DO NOTHING
"""

UPSERT_EXPERIMENT = """
INSERT INTO experiments (experiment_id, name, operation, spec, total_runs, file_root)
VALUES (%s, %s, %s, %s::jsonb, %s, %s)
ON CONFLICT (experiment_id) DO UPDATE SET name = EXCLUDED.name, operation = EXCLUDED.operation,
  spec = EXCLUDED.spec, total_runs = EXCLUDED.total_runs,
  file_root = coalesce(EXCLUDED.file_root, experiments.file_root), updated_at = now()
"""

UPSERT_DERIVED = """
INSERT INTO run_derived (run_id, derived) VALUES (%s, %s::jsonb)
ON CONFLICT (run_id) DO UPDATE SET derived = EXCLUDED.derived, updated_at = now()
"""

MERGE_DERIVED = """
UPDATE runs SET metrics = coalesce(record->'metrics', '{}'::jsonb) || %s::jsonb,
  updated_at = now()
WHERE run_id = %s AND record IS NOT NULL
"""

UPSERT_MANIFEST = """
INSERT INTO experiment_manifests (experiment_id, timestamp, manifest, submitted_at, total_runs)
VALUES (%s, %s, %s::jsonb, %s, %s)
ON CONFLICT (experiment_id, timestamp) DO UPDATE SET manifest = EXCLUDED.manifest,
  submitted_at = EXCLUDED.submitted_at, total_runs = EXCLUDED.total_runs
"""


def _strip_metalab_params(connection_string: str) -> str:
    """``connection_string`` without metalab's query parameters (libpq rejects them)."""
    parsed = urlparse(connection_string)
    if not parsed.query:
        return connection_string
    pairs = parse_qsl(parsed.query, keep_blank_values=True)
    kept = [(k, v) for k, v in pairs if k not in METALAB_PARAMS]
    if len(kept) == len(pairs):
        return connection_string
    return urlunparse(parsed._replace(query=urlencode(kept, quote_via=quote)))


def _sanitize_connection_string(conn: str) -> str:
    """``conn`` with its password shown as ``***``."""
    try:
        parsed = urlparse(conn)
        if parsed.password:
            netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@")
            return urlunparse(parsed._replace(netloc=netloc))
    except ValueError:
        return "<invalid connection string>"
    return conn


def _coerce_naive_local_to_utc(dt: datetime | None) -> datetime | None:
    """``dt`` in UTC; a naive datetime (what records hold) is taken as local time."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.astimezone()
    return dt.astimezone(UTC)


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as the strings "NaN", "Infinity", "-Infinity"
    (JSONB has no non-finite numbers; the run files use the same strings)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _jsonb(value: Any) -> str:
    return json.dumps(_finite(value), default=str)


def _load(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def _record(value: Any) -> RunRecord:
    """The record stored in ``runs.record``, its non-finite metrics floats again."""
    data = dict(_load(value))
    metrics = data.get("metrics") or {}
    data["metrics"] = {
        k: NON_FINITE[v] if isinstance(v, str) and v in NON_FINITE else v
        for k, v in metrics.items()
    }
    return load_run_record(data)


def experiment_name(experiment_id: str) -> str:
    """The name part of ``name:version``."""
    return experiment_id.rpartition(":")[0] or experiment_id


def _run_row(record: RunRecord) -> dict[str, Any]:
    error = record.error or {}
    running = record.status is Status.RUNNING
    message = error.get("message")
    kind = error.get("type")
    extra = record.provenance.extra
    executor = checked(extra.get("executor")) if isinstance(extra, dict) else None
    return {
        "experiment_id": record.experiment_id,
        "run_id": record.run_id,
        "params": _jsonb(record.params_resolved),
        "status": record.status.value,
        "metrics": _jsonb(record.metrics),
        "error": f"{kind}: {message}" if kind and message else (message or kind or None),
        "traceback": error.get("traceback"),
        "host": record.provenance.host,
        "started_at": _coerce_naive_local_to_utc(record.started_at),
        "finished_at": None if running else _coerce_naive_local_to_utc(record.finished_at),
        "duration_s": None if running else record.duration_ms / 1000,
        "context_fingerprint": record.context_fingerprint,
        "params_fingerprint": record.params_fingerprint,
        "seed_fingerprint": record.seed_fingerprint,
        "record": _jsonb(dump_run_record(record)),
        "executor": None if executor is None else _jsonb(executor),
    }


def _experiment_spec(experiment_id: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """What Atlas shows of a manifest: its fields, ``operation`` as a name, no run id list."""
    spec = {k: v for k, v in manifest.items() if k != "run_ids"}
    operation = manifest.get("operation")
    if isinstance(operation, dict):
        spec["operation"] = operation.get("name") or operation.get("ref") or ""
    spec.setdefault("name", experiment_name(experiment_id))
    spec.setdefault("created_at", manifest.get("submitted_at"))
    finite: dict[str, Any] = _finite(spec)
    return finite


def _close_pool_elsewhere(pool: Any) -> None:
    """Close a pool whose index was dropped without `close`, never from the pool's own
    threads: the garbage collector may run there, and a pool cannot join its own worker."""
    try:
        threading.Thread(target=pool.close, name="metalab-pool-close", daemon=True).start()
    except RuntimeError:  # interpreter shutdown: no new threads; this is the main thread
        pool.close()


class PostgresIndex:
    """Run records, derived metrics and manifests in PostgreSQL; not a store of its own.

    Connections come from a ``psycopg_pool.ConnectionPool``. If the server is unreachable at
    construction, creating the schema waits for the first connection that succeeds; with
    ``eager_schema=False`` it is not even tried then (the server is known to be away).
    """

    def __init__(
        self,
        connection_string: str,
        *,
        schema: str = "public",
        auto_migrate: bool = True,
        pool_min_size: int = 1,
        pool_max_size: int = 10,
        connect_timeout: float = 10.0,
        file_root: str | None = None,
        eager_schema: bool = True,
    ) -> None:
        try:
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise ImportError(
                "PostgresIndex requires psycopg and psycopg_pool: "
                "pip install 'psycopg[binary,pool]'"
            ) from None
        self._connection_string = connection_string
        self._schema = schema
        self._auto_migrate = auto_migrate
        self._schema_ensured = False
        self._experiments_added: set[str] = set()
        self._file_root = file_root
        options: dict[str, Any] = {}
        if schema != "public":
            options["options"] = f"-c search_path={schema}"
        self._pool = ConnectionPool(
            _strip_metalab_params(connection_string),
            min_size=pool_min_size,
            max_size=pool_max_size,
            timeout=connect_timeout,
            kwargs=options,
            open=True,
        )
        weakref.finalize(self, _close_pool_elsewhere, self._pool)
        if auto_migrate and eager_schema:
            try:
                self._ensure_schema()
            except Exception as exc:  # noqa: BLE001 - retried on the first connection
                logger.warning("Postgres unavailable at init, deferring schema creation: %s", exc)

    def __repr__(self) -> str:
        safe = _sanitize_connection_string(self._connection_string)
        return f"PostgresIndex(connection={safe!r}, schema={self._schema!r})"

    _sanitize_connection_string = staticmethod(_sanitize_connection_string)

    def _table(self, name: str) -> str:
        """The schema-qualified name of table ``name``."""
        return f"{self._schema}.{name}"

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        """A pooled connection, committed when the block ends cleanly."""
        with self._pool.connection() as conn:
            if self._auto_migrate and not self._schema_ensured:
                self._create_schema(conn)
            yield conn

    def ping(self, timeout: float) -> None:
        """A round trip to the server, waiting at most ``timeout`` s for a connection."""
        with self._pool.connection(timeout=timeout) as conn:
            conn.execute("SELECT 1")

    def _ensure_schema(self) -> None:
        with self._pool.connection() as conn:
            self._create_schema(conn)

    def _create_schema(self, conn: psycopg.Connection[Any]) -> None:
        from psycopg import sql

        from metalab._runstore.pgschema import ensure_schema

        if self._schema != "public":
            conn.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self._schema))
            )
        ensure_schema(conn)
        conn.commit()
        self._schema_ensured = True

    # Run records

    def _add_experiments(self, cur: Any, experiment_ids: Iterable[str]) -> None:
        """Give each experiment a row if it has none (once per experiment and index: the
        insert does nothing when the row exists, and it cost as much as the run's own)."""
        for experiment_id in sorted(set(experiment_ids) - self._experiments_added):
            root = None
            if self._file_root is not None:
                root = str(Path(self._file_root) / safe_experiment_id(experiment_id))
            spec = _jsonb({"name": experiment_name(experiment_id)})
            cur.execute(ADD_EXPERIMENT, (experiment_id, experiment_name(experiment_id), spec, root))

    def index_record(self, record: RunRecord) -> None:
        """Add or replace ``record`` (its experiment gets a row if it has none)."""
        self.batch_index_records([record])

    def batch_index_records(self, records: Sequence[RunRecord]) -> None:
        """Add or replace many records in one transaction."""
        if not records:
            return
        experiment_ids = {r.experiment_id for r in records}
        with self._conn() as conn, conn.cursor() as cur:
            self._add_experiments(cur, experiment_ids)
            rows = [_run_row(r) for r in records]
            if len(rows) == 1:  # one round trip; executemany's pipeline costs two more
                cur.execute(UPSERT_RUN, rows[0])
            else:
                cur.executemany(UPSERT_RUN, rows)
        self._experiments_added |= experiment_ids  # committed

    def get_record(self, run_id: str) -> RunRecord | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT record FROM runs WHERE run_id = %s AND record IS NOT NULL LIMIT 1",
                (run_id,),
            ).fetchone()
        return None if row is None else _record(row[0])

    def list_records(self, experiment_id: str | None = None) -> list[RunRecord]:
        """Records, newest start first (of ``experiment_id`` when given)."""
        query = "SELECT record FROM runs WHERE record IS NOT NULL"
        args: tuple[str, ...] = ()
        if experiment_id:
            query += " AND experiment_id = %s"
            args = (experiment_id,)
        with self._conn() as conn:
            rows = conn.execute(query + " ORDER BY started_at DESC", args).fetchall()
        return [_record(row[0]) for row in rows]

    def record_exists(self, run_id: str) -> bool:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT 1 FROM runs WHERE run_id = %s AND record IS NOT NULL LIMIT 1", (run_id,)
            ).fetchone()
        return row is not None

    def delete_record(self, run_id: str) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM runs WHERE run_id = %s AND record IS NOT NULL", (run_id,))

    # Derived metrics

    def index_derived(self, run_id: str, derived: dict[str, Any]) -> None:
        """Store ``derived`` and merge it into the run's metrics."""
        self.batch_index_derived([(run_id, derived)])

    def batch_index_derived(self, pairs: Sequence[tuple[str, dict[str, Any]]]) -> None:
        if not pairs:
            return
        rows = [(run_id, _jsonb(derived)) for run_id, derived in pairs]
        with self._conn() as conn, conn.cursor() as cur:
            cur.executemany(UPSERT_DERIVED, rows)
            cur.executemany(MERGE_DERIVED, [(doc, run_id) for run_id, doc in rows])

    def get_derived(self, run_id: str) -> dict[str, Any] | None:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT derived FROM run_derived WHERE run_id = %s", (run_id,)
            ).fetchone()
        return None if row is None else dict(_load(row[0]))

    def derived_exists(self, run_id: str) -> bool:
        return self.get_derived(run_id) is not None

    def delete_derived(self, run_id: str) -> None:
        with self._conn() as conn:
            conn.execute("DELETE FROM run_derived WHERE run_id = %s", (run_id,))

    # Experiment manifests

    def index_manifest(
        self,
        experiment_id: str,
        manifest: dict[str, Any],
        timestamp: str | None = None,
    ) -> None:
        """Store ``manifest`` and make it the experiment's spec for Atlas."""
        submitted = manifest.get("submitted_at")
        submitted_at = datetime.fromisoformat(submitted) if isinstance(submitted, str) else None
        submitted_at = submitted_at or datetime.now()
        stamp = timestamp or datetime.now().strftime("%Y%m%d_%H%M%S")
        total = int(manifest.get("total_runs") or 0)
        spec = _experiment_spec(experiment_id, manifest)
        with self._conn() as conn, conn.cursor() as cur:
            self._add_experiments(cur, [experiment_id])
            cur.execute(
                UPSERT_MANIFEST,
                (
                    experiment_id,
                    stamp,
                    _jsonb(manifest),
                    _coerce_naive_local_to_utc(submitted_at),
                    total,
                ),
            )
            cur.execute(
                UPSERT_EXPERIMENT,
                (
                    experiment_id,
                    spec["name"],
                    str(spec.get("operation") or ""),
                    _jsonb(spec),
                    total,
                    None,
                ),
            )

    def get_manifest(self, experiment_id: str) -> dict[str, Any] | None:
        """The newest manifest of ``experiment_id`` (by ``submitted_at``)."""
        with self._conn() as conn:
            row = conn.execute(
                "SELECT manifest FROM experiment_manifests WHERE experiment_id = %s "
                "ORDER BY submitted_at DESC, timestamp DESC LIMIT 1",
                (experiment_id,),
            ).fetchone()
        return None if row is None else dict(_load(row[0]))

    # Maintenance

    def update_field_catalog(self, records: Sequence[RunRecord] | None = None) -> None:
        """Rebuild the per-field values (``run_values``) Atlas filters and sorts by, for the
        experiments of ``records`` (all indexed records when None). The trigger on ``runs``
        keeps them current; this repairs them."""
        if records is None:
            with self._conn() as conn:
                rows = conn.execute(
                    "SELECT DISTINCT experiment_id FROM runs WHERE record IS NOT NULL"
                ).fetchall()
            experiments = {str(row[0]) for row in rows}
        else:
            experiments = {r.experiment_id for r in records}
        with self._conn() as conn:
            for experiment_id in sorted(experiments):
                for statement in REBUILD_VALUES:
                    conn.execute(statement, (experiment_id,))

    def clear(self, experiment_ids: Sequence[str] | None = None) -> None:
        """Drop the indexed records, derived metrics and manifests (of ``experiment_ids``
        only, when given). Runs indexed by the older run store stay."""
        with self._conn() as conn:
            if experiment_ids is None:
                conn.execute("DELETE FROM run_derived")
                conn.execute("DELETE FROM runs WHERE record IS NOT NULL")
                conn.execute("DELETE FROM experiment_manifests")
            else:
                ids = list(experiment_ids)
                conn.execute(
                    "DELETE FROM run_derived WHERE run_id IN (SELECT run_id FROM runs "
                    "WHERE record IS NOT NULL AND experiment_id = ANY(%s))",
                    (ids,),
                )
                conn.execute(
                    "DELETE FROM runs WHERE record IS NOT NULL AND experiment_id = ANY(%s)", (ids,)
                )
                conn.execute(
                    "DELETE FROM experiment_manifests WHERE experiment_id = ANY(%s)", (ids,)
                )
        logger.info("Index cleared")

    def close(self) -> None:
        """Close the connection pool."""
        self._pool.close()

    def __enter__(self) -> PostgresIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
