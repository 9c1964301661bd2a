"""PostgresStore: the FileStore layout under ``file_root`` plus an index in PostgreSQL.

Files are the truth (``reindex`` rebuilds the tables from them); the tables make filtering and
sorting 100k+ runs cheap for Atlas. Writes are batched (``executemany`` in pipeline mode, COPY
for step metrics).
"""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg

from metalab._runstore.base import MetricStep, RunRecord, RunState, now_iso
from metalab._runstore.file import FileStore
from metalab._runstore.pgconfig import PostgresStoreConfig
from metalab._runstore.pgschema import ensure_schema
from metalab.errors import StoreError

UPSERT_RUN = """
INSERT INTO runs (experiment_id, run_id, params, seed, status, attempt, metrics, error,
                  traceback, host, created_at, started_at, finished_at, duration_s, executor,
                  updated_at)
VALUES (%s, %s, %s::jsonb, %s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s::jsonb, now())
ON CONFLICT (experiment_id, run_id) DO UPDATE SET
  params = EXCLUDED.params, seed = EXCLUDED.seed, status = EXCLUDED.status,
  attempt = EXCLUDED.attempt, metrics = EXCLUDED.metrics, error = EXCLUDED.error,
  traceback = EXCLUDED.traceback, host = EXCLUDED.host, created_at = EXCLUDED.created_at,
  started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at,
  duration_s = EXCLUDED.duration_s, executor = EXCLUDED.executor, updated_at = now()
"""

UPSERT_EXPERIMENT = """
INSERT INTO experiments (experiment_id, name, operation, spec, total_runs, file_root)
VALUES (%s, %s, %s, %s::jsonb, %s, %s)
ON CONFLICT (experiment_id) DO UPDATE SET name = EXCLUDED.name, operation = EXCLUDED.operation,
  spec = EXCLUDED.spec, total_runs = EXCLUDED.total_runs, file_root = EXCLUDED.file_root,
  updated_at = now()
"""


def _jsonb(value: Any) -> str:
    return json.dumps(_finite(value), sort_keys=True, default=str)


def _finite(value: Any) -> Any:
    """JSONB has no NaN/Infinity: store them as the strings "NaN", "Infinity", "-Infinity"."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _row(r: RunRecord) -> tuple[Any, ...]:
    return (
        r.experiment_id,
        r.run_id,
        _jsonb(r.params),
        r.seed,
        r.status,
        r.attempt,
        _jsonb(r.metrics),
        r.error,
        r.traceback,
        r.host,
        r.created_at,
        r.started_at,
        r.finished_at,
        r.duration_s,
        json.dumps(r.executor) if r.executor is not None else None,
    )


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return now_iso(value.timestamp())
    return str(value)


def _record(row: Sequence[Any]) -> RunRecord:
    (
        exp,
        rid,
        params,
        seed,
        status,
        attempt,
        metrics,
        error,
        tb,
        host,
        created,
        started,
        finished,
        duration,
        executor,
    ) = row
    return RunRecord(
        exp,
        rid,
        dict(params),
        int(seed),
        status,
        int(attempt),
        _iso(created) or "",
        _iso(started),
        _iso(finished),
        duration,
        dict(metrics),
        error,
        tb,
        host,
        dict(executor) if executor is not None else None,
    )


class PostgresStore:
    def __init__(self, config: PostgresStoreConfig) -> None:
        self.config = config
        self.files = FileStore(Path(config.file_root))
        try:
            self.conn = psycopg.connect(
                config.dsn,
                autocommit=True,
                connect_timeout=10,
                application_name=f"metalab@{socket.gethostname()}",
            )
        except psycopg.Error as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot connect to {config.describe()}: {reason}") from None
        try:
            ensure_schema(self.conn)
        except psycopg.Error as exc:
            self.conn.close()
            raise StoreError(f"{config.describe()}: cannot create schema: {exc}") from None

    def describe(self) -> str:
        return self.config.describe()

    def experiment_dir(self, experiment_id: str) -> Path:
        return self.files.experiment_dir(experiment_id)

    def run_dir(self, experiment_id: str, run_id: str) -> Path:
        return self.files.run_dir(experiment_id, run_id)

    def put_experiment(
        self, spec: Mapping[str, Any], total_runs: int, run_ids: Sequence[str] = ()
    ) -> None:
        self.files.put_experiment(spec, total_runs, run_ids)
        self._index_experiment(spec, total_runs)

    def _index_experiment(self, spec: Mapping[str, Any], total_runs: int) -> None:
        with self._errors("write experiment"):
            self.conn.execute(
                UPSERT_EXPERIMENT,
                (
                    spec["experiment_id"],
                    spec.get("name", spec["experiment_id"]),
                    spec.get("operation", ""),
                    _jsonb(dict(spec)),
                    total_runs,
                    self.config.file_root,
                ),
            )

    def begin_run(self, record: RunRecord) -> None:
        self.files.begin_run(record)
        self.clear_steps(record.experiment_id, record.run_id)
        self.index_runs([record])

    def write_run(self, record: RunRecord) -> None:
        self.write_runs([record])

    def write_runs(self, records: Sequence[RunRecord]) -> None:
        for record in records:
            self.files.write_run(record)
        self.index_runs(records)

    def index_runs(self, records: Sequence[RunRecord]) -> None:
        """Upsert ``records`` into ``runs`` in one pipelined batch (files untouched)."""
        if not records:
            return
        with self._errors("write runs"), self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(UPSERT_RUN, [_row(r) for r in records])

    def write_steps(self, experiment_id: str, run_id: str, steps: Iterable[MetricStep]) -> None:
        batch = list(steps)
        if not batch:
            return
        self.files.write_steps(experiment_id, run_id, batch)
        self.index_steps(experiment_id, run_id, batch)

    def index_steps(self, experiment_id: str, run_id: str, steps: Sequence[MetricStep]) -> None:
        with self._errors("write metric steps"), self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                "CREATE TEMP TABLE IF NOT EXISTS _steps (LIKE metric_steps) ON COMMIT DELETE ROWS"
            )
            with cur.copy(
                "COPY _steps (experiment_id, run_id, name, step, value, recorded_at) FROM STDIN"
            ) as copy:
                for s in steps:
                    copy.write_row((experiment_id, run_id, s.name, s.step, s.value, s.t or None))
            cur.execute(
                "INSERT INTO metric_steps SELECT DISTINCT ON (experiment_id, run_id, "
                "name, step) * FROM _steps ORDER BY experiment_id, run_id, name, step "
                "ON CONFLICT (experiment_id, run_id, name, step) DO UPDATE SET "
                "value = EXCLUDED.value, recorded_at = EXCLUDED.recorded_at"
            )

    def clear_steps(self, experiment_id: str, run_id: str) -> None:
        with self._errors("clear metric steps"):
            self.conn.execute(
                "DELETE FROM metric_steps WHERE experiment_id = %s AND run_id = %s",
                (experiment_id, run_id),
            )

    def read_runs(self, experiment_id: str) -> list[RunRecord]:
        with self._errors("read runs"), self.conn.cursor() as cur:
            cur.execute(
                "SELECT experiment_id, run_id, params, seed, status, attempt, metrics, error, "
                "traceback, host, created_at, started_at, finished_at, duration_s, executor "
                "FROM runs WHERE experiment_id = %s ORDER BY run_id",
                (experiment_id,),
            )
            return [_record(row) for row in cur.fetchall()]

    def run_states(self, experiment_id: str) -> dict[str, RunState]:
        with self._errors("read run states"), self.conn.cursor() as cur:
            cur.execute(
                "SELECT run_id, status, attempt FROM runs WHERE experiment_id = %s",
                (experiment_id,),
            )
            return {rid: RunState(status, attempt) for rid, status, attempt in cur.fetchall()}

    def read_steps(self, experiment_id: str, run_id: str) -> list[MetricStep]:
        with self._errors("read metric steps"), self.conn.cursor() as cur:
            cur.execute(
                "SELECT name, step, value, recorded_at FROM metric_steps WHERE "
                "experiment_id = %s AND run_id = %s ORDER BY name, step",
                (experiment_id, run_id),
            )
            return [MetricStep(n, s, v, t or "") for n, s, v, t in cur.fetchall()]

    def close(self) -> None:
        self.conn.close()

    def _errors(self, action: str) -> _ErrorMap:
        return _ErrorMap(f"{self.describe()}: {action}")


class _ErrorMap:
    """Turn psycopg errors into one-line `StoreError` (the one translation boundary)."""

    def __init__(self, what: str) -> None:
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, typ: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        if isinstance(exc, psycopg.Error):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"{self.what} failed: {first}") from exc
