"""The PostgreSQL index schema, created idempotently and versioned."""

from __future__ import annotations

import psycopg

SCHEMA_VERSION = 3
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
    # run_values: each run's params and metrics, one typed row per present value (a JSON
    # number in num, any other non-missing value's text in txt; null and "NaN"/"Infinity"/
    # "-Infinity" are missing, no row). Kept by the trigger below; Atlas sorts and filters
    # through it by index.
    """CREATE TABLE IF NOT EXISTS run_values (
         experiment_id text NOT NULL,
         run_id text NOT NULL,
         field text NOT NULL,
         num double precision,
         txt text,
         PRIMARY KEY (experiment_id, field, run_id) INCLUDE (num, txt))""",
    """CREATE INDEX IF NOT EXISTS run_values_num ON run_values
         (experiment_id, field, num, run_id) WHERE num IS NOT NULL""",
    """CREATE INDEX IF NOT EXISTS run_values_num_desc ON run_values
         (experiment_id, field, num DESC, run_id) WHERE num IS NOT NULL""",
    """CREATE INDEX IF NOT EXISTS run_values_txt ON run_values
         (experiment_id, field, txt COLLATE "C", run_id) WHERE txt IS NOT NULL""",
    """CREATE OR REPLACE FUNCTION metalab_values(params jsonb, metrics jsonb)
         RETURNS TABLE (field text, num double precision, txt text)
         LANGUAGE sql IMMUTABLE AS $$
           SELECT e.prefix || e.key,
                  CASE WHEN jsonb_typeof(e.value) = 'number' THEN (e.value)::float8 END,
                  CASE WHEN jsonb_typeof(e.value) <> 'number' THEN e.value #>> '{}' END
           FROM (SELECT 'params.' AS prefix, key, value FROM jsonb_each(params)
                 UNION ALL SELECT 'metrics.', key, value FROM jsonb_each(metrics)) e
           WHERE jsonb_typeof(e.value) <> 'null'
             AND NOT (jsonb_typeof(e.value) = 'string'
                      AND e.value #>> '{}' IN ('NaN', 'Infinity', '-Infinity'))
         $$""",
    # run_versions: a counter per experiment bumped by every write of its runs, in the
    # writer's transaction: readers see it change exactly when a change commits.
    """CREATE TABLE IF NOT EXISTS run_versions (
         experiment_id text PRIMARY KEY,
         version bigint NOT NULL DEFAULT 0)""",
    """CREATE OR REPLACE FUNCTION metalab_run_values() RETURNS trigger
         LANGUAGE plpgsql AS $$
         BEGIN
           -- once per transaction and experiment: updating one row again and again in a
           -- transaction grows its version chain (quadratic in a batch of writes)
           IF current_setting('metalab.bumped', true) IS DISTINCT FROM
              coalesce(NEW.experiment_id, OLD.experiment_id) THEN
             INSERT INTO run_versions AS v (experiment_id, version)
               VALUES (coalesce(NEW.experiment_id, OLD.experiment_id), 1)
               ON CONFLICT (experiment_id) DO UPDATE SET version = v.version + 1;
             PERFORM set_config('metalab.bumped',
                                coalesce(NEW.experiment_id, OLD.experiment_id), true);
           END IF;
           IF TG_OP = 'UPDATE' AND NEW.params = OLD.params AND NEW.metrics = OLD.metrics THEN
             RETURN NULL;
           END IF;
           IF TG_OP <> 'INSERT' THEN
             DELETE FROM run_values WHERE experiment_id = OLD.experiment_id
               AND field IN (SELECT v.field FROM metalab_values(OLD.params, OLD.metrics) v)
               AND run_id = OLD.run_id;
           END IF;
           IF TG_OP <> 'DELETE' THEN
             INSERT INTO run_values (experiment_id, run_id, field, num, txt)
               SELECT NEW.experiment_id, NEW.run_id, v.field, v.num, v.txt
               FROM metalab_values(NEW.params, NEW.metrics) v;
           END IF;
           RETURN NULL;
         END $$""",
    "DROP TRIGGER IF EXISTS runs_values ON runs",
    """CREATE TRIGGER runs_values AFTER INSERT OR UPDATE OR DELETE ON runs
         FOR EACH ROW EXECUTE FUNCTION metalab_run_values()""",
    """INSERT INTO run_values (experiment_id, run_id, field, num, txt)
         SELECT r.experiment_id, r.run_id, v.field, v.num, v.txt
         FROM runs r, metalab_values(r.params, r.metrics) v ON CONFLICT DO NOTHING""",
    """CREATE TABLE IF NOT EXISTS metric_steps (
         experiment_id text NOT NULL,
         run_id text NOT NULL,
         name text NOT NULL,
         step bigint NOT NULL,
         value double precision,
         recorded_at timestamptz,
         PRIMARY KEY (experiment_id, run_id, name, step))""",
    # v3: runs recorded through the upstream-compatible API (metalab.store.PostgresStore):
    # its fingerprints, the whole record as stored in runs/{run_id}.json, derived metrics
    # by run id (merged into runs.metrics for Atlas) and versioned experiment manifests.
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS context_fingerprint text",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS params_fingerprint text",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS seed_fingerprint text",
    "ALTER TABLE runs ADD COLUMN IF NOT EXISTS record jsonb",
    "CREATE INDEX IF NOT EXISTS runs_run_id ON runs (run_id)",
    """CREATE TABLE IF NOT EXISTS run_derived (
         run_id text PRIMARY KEY,
         derived jsonb NOT NULL,
         updated_at timestamptz NOT NULL DEFAULT now())""",
    """CREATE TABLE IF NOT EXISTS experiment_manifests (
         experiment_id text NOT NULL,
         timestamp text NOT NULL,
         manifest jsonb NOT NULL,
         submitted_at timestamptz NOT NULL,
         total_runs integer,
         created_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (experiment_id, timestamp))""",
    """CREATE INDEX IF NOT EXISTS experiment_manifests_latest
         ON experiment_manifests (experiment_id, submitted_at DESC)""",
]


REBUILD_VALUES = [
    "DELETE FROM run_values WHERE experiment_id = %s",
    """INSERT INTO run_values (experiment_id, run_id, field, num, txt)
         SELECT r.experiment_id, r.run_id, v.field, v.num, v.txt
         FROM runs r, metalab_values(r.params, r.metrics) v WHERE r.experiment_id = %s""",
]

# Atlas's search text (metalab_atlas.pgsql.SEARCHED), indexed by trigrams when pg_trgm exists.
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
