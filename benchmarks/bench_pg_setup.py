"""Cold-process `start_postgres`: set-up and first probe over `pgwire` (now) vs psycopg (before).

Usage: python -m benchmarks.bench_pg_setup [-n N] [--run-as USER]

Each sample is a fresh Python process, as a cold ``services up``'s CLI is, that imports the
runtime and starts PostgreSQL on a fresh data directory copied from the cached template (spares
off: ``METALAB_PG_SPARE=0``), then stops it. ``psycopg`` patches in the former path (kept here
as the baseline): psycopg preloaded on a thread during the template copy, the set-up over
psycopg with libpq's verifier, the probe over psycopg. The two alternate A B B A within a
round, the order flipping every round. Printed: medians (min) of the wall time and of the
process's CPU time (all threads: what competes with Atlas's start on a 2-core machine) of
`start_postgres` alone and with the runtime's import before it (``total``), and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from metalab_orchestrator.runtime.accounts import Account
from metalab_orchestrator.runtime.pg_binaries import find_pg_binaries
from metalab_orchestrator.runtime.pg_handle import PostgresSettings
from metalab_orchestrator.runtime.pg_template import ensure_template

CHILD = """
import json, resource, sys, threading, time
from pathlib import Path

def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime

variant, root, run_as = sys.argv[1], Path(sys.argv[2]), sys.argv[3] or None
wall0, cpu0 = time.perf_counter(), cpu()
import metalab_orchestrator.runtime.postgres as pg
from metalab_orchestrator.runtime.pg_handle import PostgresSettings
if variant == "psycopg":
    exec(BASELINE)
wall1, cpu1 = time.perf_counter(), cpu()
handle = pg.start_postgres(
    PostgresSettings(run_as=run_as), data_dir=root / "data", run_dir=root / "run"
)
wall2, cpu2 = time.perf_counter(), cpu()
pg.stop_postgres(handle)
print(json.dumps({
    "start wall": wall2 - wall1, "start cpu": cpu2 - cpu1,
    "total wall": wall2 - wall0, "total cpu": cpu2 - cpu0,
    "psycopg": any(name.startswith("psycopg") for name in sys.modules),
}))
"""

BASELINE = """
def _preload():
    import psycopg  # noqa: F401

original_make = pg.make_data_dir

def make_data_dir(template, data_dir, account):
    threading.Thread(target=_preload, daemon=True).start()
    return original_make(template, data_dir, account)

def _bootstrap(settings, socket_dir, port, password, timeout):
    import psycopg
    from psycopg import sql

    with psycopg.connect(
        host=str(socket_dir), port=port, dbname="postgres", user=settings.user,
        connect_timeout=max(2, int(timeout)), autocommit=True, application_name="metalab-setup",
    ) as conn:
        conn.execute("SET log_statement = 'none'")
        conn.execute("SET log_min_error_statement = 'panic'")
        conn.execute("SET log_min_duration_statement = -1")
        verifier = conn.pgconn.encrypt_password(
            password.encode(), settings.user.encode(), b"scram-sha-256"
        ).decode()
        conn.execute(sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(settings.user), sql.Literal(verifier)))
        query = "SELECT 1 FROM pg_database WHERE datname = %s"
        if conn.execute(query, (settings.database,)).fetchone() is None:
            spare = conn.execute(query, (pg.SPARE_DATABASE,)).fetchone()
            statement = "ALTER DATABASE {} RENAME TO {}" if spare else "CREATE DATABASE {1}"
            conn.execute(sql.SQL(statement).format(
                sql.Identifier(pg.SPARE_DATABASE), sql.Identifier(settings.database)))

def probe_postgres(handle):
    import psycopg

    try:
        with psycopg.connect(
            host=handle.host, port=handle.port, dbname=handle.database, user=handle.user,
            passfile=str(handle.passfile), connect_timeout=2, sslmode="disable",
            application_name="metalab-probe",
        ) as conn:
            conn.execute("SELECT 1").fetchone()
    except psycopg.Error as exc:
        return pg.Probe(False, str(exc))
    return pg.Probe(True, "ok")

pg.make_data_dir, pg._bootstrap, pg.probe_postgres = make_data_dir, _bootstrap, probe_postgres
"""

VARIANTS = ("pgwire", "psycopg")
FIGURES = ("start wall", "start cpu", "total wall", "total cpu")


def sample(variant: str, root: Path, run_as: str | None) -> dict[str, float]:
    root.mkdir(mode=0o755)
    code = CHILD.replace("exec(BASELINE)", f"exec({BASELINE!r})")
    result = subprocess.run(
        [sys.executable, "-c", code, variant, str(root), run_as or ""],
        capture_output=True,
        text=True,
        check=True,
    )
    outcome: dict[str, float] = json.loads(result.stdout.splitlines()[-1])
    if outcome["psycopg"] != (variant == "psycopg"):
        raise RuntimeError(f"{variant}: psycopg loaded = {outcome['psycopg']}")
    return outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=6, help="rounds (two samples of each per round)")
    parser.add_argument("--run-as", default="metalab" if os.geteuid() == 0 else None)
    args = parser.parse_args()
    run_as: str | None = args.run_as if os.geteuid() == 0 else None

    work = Path(tempfile.mkdtemp(prefix="metalab-bench-", dir="/tmp"))
    work.chmod(0o755)
    os.environ["METALAB_PG_TEMPLATE_DIR"] = str(work / "templates")
    os.environ["METALAB_PG_SPARE"] = "0"  # both variants copy the template (bench_postgres_start)
    results = {v: {f: list[float]() for f in FIGURES} for v in VARIANTS}
    try:
        account = Account.named(run_as) if run_as else None
        ensure_template(find_pg_binaries(), superuser=PostgresSettings().user, account=account)
        for i in range(args.n):
            first, second = VARIANTS if i % 2 == 0 else VARIANTS[::-1]
            for j, variant in enumerate((first, second, second, first)):
                outcome = sample(variant, work / f"r{i}-{j}", run_as)
                for figure in FIGURES:
                    results[variant][figure].append(outcome[figure])
                shutil.rmtree(work / f"r{i}-{j}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"cold process, fresh data dir, {2 * args.n} samples each, median (min) ms:")
    print(f"  {'':10s}" + "".join(f"{figure:>18s}" for figure in FIGURES))
    for variant in VARIANTS:
        cells = (results[variant][figure] for figure in FIGURES)
        row = "".join(f"{statistics.median(c) * 1000:11.1f} ({min(c) * 1000:5.1f})" for c in cells)
        print(f"  {variant:10s}{row}")
    ratios = (
        statistics.median(results["pgwire"][f]) / statistics.median(results["psycopg"][f])
        for f in FIGURES
    )
    print(f"  {'ratio':10s}" + "".join(f"{ratio:18.2f}" for ratio in ratios))


if __name__ == "__main__":
    main()
