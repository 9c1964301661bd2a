"""The PostgreSQL index schema, created idempotently and versioned."""

from __future__ import annotations

import psycopg

SCHEMA_VERSION = 2
LOCK_KEY = 0x6D65_7461_6C61  # "metala": serialises concurrent schema creation

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS metalab_schema (
         version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS experiments (
         experiment_id text PRIMARY KEY,
         name text NOT NULL,
         operation text NOT NULL DEFAULT '',
         spec jsonb NOT NULL DEFAULT '{}'::jsonb,
         total_runs integer NOT NULL DEFAULT 0,
         file_root text,
         created_at timestamptz NOT NULL DEFAULT now(),
         updated_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS runs (
         experiment_id text NOT NULL,
         run_id text NOT NULL,
         params jsonb NOT NULL DEFAULT '{}'::jsonb,
         seed bigint NOT NULL,
         status text NOT NULL,
         attempt integer NOT NULL DEFAULT 1,
         metrics jsonb NOT NULL DEFAULT '{}'::jsonb,
         error text,
         traceback text,
         host text,
         created_at timestamptz,
         started_at timestamptz,
         finished_at timestamptz,
         duration_s double precision,
         updated_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (experiment_id, run_id))""",
    "CREATE INDEX IF NOT EXISTS runs_experiment_status ON runs (experiment_id, status)",
    "CREATE INDEX IF NOT EXISTS runs_experiment_finished ON runs (experiment_id, finished_at)",
    "CREATE INDEX IF NOT EXISTS runs_status_updated ON runs (status, updated_at)",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS executor jsonb",
    "CREATE INDEX IF NOT EXISTS runs_experiment_updated ON runs (experiment_id, updated_at)",
    "CREATE INDEX IF NOT EXISTS runs_params ON runs USING gin (params jsonb_path_ops)",
    "CREATE INDEX IF NOT EXISTS runs_metrics ON runs USING gin (metrics jsonb_path_ops)",
    """CREATE TABLE IF NOT EXISTS metric_steps (
         experiment_id text NOT NULL,
         run_id text NOT NULL,
         name text NOT NULL,
         step bigint NOT NULL,
         value double precision,
         recorded_at timestamptz,
         PRIMARY KEY (experiment_id, run_id, name, step))""",
]


# Atlas's search text (metalab.atlas.pgsql.SEARCHED), indexed by trigrams when pg_trgm exists.
SEARCH_INDEX = (
    "CREATE INDEX IF NOT EXISTS runs_search ON runs USING gin (("
    "run_id || ' ' || status || ' ' || coalesce(host, '') || ' ' || "
    "coalesce(left(error, 500), '') || ' ' || params::text) gin_trgm_ops)"
)


def ensure_schema(conn: psycopg.Connection[tuple[object, ...]]) -> None:
    """Create the tables once; a no-op (one query) when this version is already installed."""
    exists = conn.execute("SELECT to_regclass('metalab_schema') IS NOT NULL").fetchone()
    if exists is not None and exists[0]:
        row = conn.execute("SELECT max(version) FROM metalab_schema").fetchone()
        if row is not None and row[0] is not None and int(str(row[0])) >= SCHEMA_VERSION:
            return
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_KEY,))
        for statement in SCHEMA:
            conn.execute(statement)
        try:
            with conn.transaction():
                conn.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
                conn.execute(SEARCH_INDEX)
        except psycopg.Error:
            pass  # no pg_trgm (or no right to create it): search scans
        conn.execute(
            "INSERT INTO metalab_schema (version) VALUES (%s) ON CONFLICT DO NOTHING",
            (SCHEMA_VERSION,),
        )
