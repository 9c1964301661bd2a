"""Cold-start cost of a local PostgreSQL: template copy vs plain initdb, in one run.

Usage: python benchmarks/bench_postgres_start.py [-n N] [--run-as USER]

Prints medians (seconds) of N runs each of:
  spare      fresh data dir renamed from a ready spare (pg_spare), start_postgres until SELECT 1
  copy       the same with METALAB_PG_SPARE=0: the template copied on the critical path
  template   as copy, in the round's fixed order (spare and copy alternate, order flipping)
  initdb     fresh data dir from ``initdb --no-sync``, then the same start_postgres
  restart    start_postgres on an existing, cleanly stopped data dir
  pg_ctl     ``pg_ctl start -w`` on the same data dir (the alternative we did not pick)
  stop       stop_postgres (fast shutdown) until every server process is gone
  probe      probe_postgres (authenticated SELECT 1 over TCP)
and the spare/copy and template/initdb ratios. Timings on shared machines are noisy: read the
ratios. Before every spare sample, and before every copy sample, the refill child of the previous
take has finished (it is off the critical path, but would share the disk with the sample).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from metalab_orchestrator.runtime.accounts import Account
from metalab_orchestrator.runtime.pg_binaries import PgBinaries, find_pg_binaries
from metalab_orchestrator.runtime.pg_handle import PostgresHandle, PostgresSettings
from metalab_orchestrator.runtime.pg_spare import ENV as SPARE_ENV
from metalab_orchestrator.runtime.pg_spare import build_spare, lock_path
from metalab_orchestrator.runtime.pg_template import ensure_template, template_key
from metalab_orchestrator.runtime.ports import free_port
from metalab_orchestrator.runtime.postgres import probe_postgres, start_postgres, stop_postgres


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def as_user(argv: list[str], run_as: str | None) -> list[str]:
    return ["runuser", "-u", run_as, "--", *argv] if run_as else argv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument("--run-as", default="metalab" if os.geteuid() == 0 else None)
    args = parser.parse_args()
    run_as: str | None = args.run_as if os.geteuid() == 0 else None
    account = Account.named(run_as) if run_as else None

    work = Path(tempfile.mkdtemp(prefix="metalab-bench-", dir="/tmp"))
    work.chmod(0o755)
    os.environ["METALAB_PG_TEMPLATE_DIR"] = str(work / "templates")
    os.environ[SPARE_ENV] = "0"  # on only for the spare samples
    settings = PostgresSettings(run_as=run_as)
    bins = find_pg_binaries()
    names = ("spare", "copy", "template", "initdb", "restart", "pg_ctl")
    results: dict[str, list[float]] = {k: [] for k in names}
    results |= {"stop": [], "probe": []}
    try:
        ensure_template(bins, superuser=settings.user, account=account)  # cached, not timed
        key = template_key(bins.major, settings.user, "UTF8", "C")
        for i in range(args.n):
            _spare_round(work, i, key, settings, account, results)
            _one_round(work / f"r{i}", settings, bins, run_as, account, results)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(f"PostgreSQL {bins.major}, {args.n} runs each, median seconds:")
    for name, values in results.items():
        print(f"  {name:9s} {statistics.median(values):.3f}  (min {min(values):.3f})")
    for a, b in (("spare", "copy"), ("template", "initdb")):
        ratio = statistics.median(results[a]) / statistics.median(results[b])
        print(f"  {a}/{b} ratio: {ratio:.2f}")


def _settled_spare(templates: Path, key: str, account: Account | None) -> None:
    """Until a spare is ready and no refill runs (the refill's lock is free)."""
    build_spare(templates, key, account)  # returns at once when the refill child holds the lock
    fd = os.open(lock_path(templates, key), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        deadline = time.monotonic() + 120.0
        while not list(templates.glob(f"{key}.spare-*")):
            if time.monotonic() > deadline:
                raise RuntimeError(f"no spare in {templates} within 120 s")
            time.sleep(0.02)
        fcntl.flock(fd, fcntl.LOCK_EX)
    finally:
        os.close(fd)


def _spare_round(
    work: Path,
    i: int,
    key: str,
    settings: PostgresSettings,
    account: Account | None,
    results: dict[str, list[float]],
) -> None:
    """One start from a ready spare and one by copying, in an order that flips every round."""
    templates = work / "templates"
    for variant in ("spare", "copy") if i % 2 == 0 else ("copy", "spare"):
        _settled_spare(templates, key, account)
        os.environ[SPARE_ENV] = "1" if variant == "spare" else "0"
        root = work / f"{variant}{i}"
        root.mkdir(mode=0o755)
        handle: list[PostgresHandle] = []
        try:
            started = time.perf_counter()
            handle.append(start_postgres(settings, data_dir=root / "data", run_dir=root / "run"))
            results[variant].append(time.perf_counter() - started)
        finally:
            os.environ[SPARE_ENV] = "0"
            for h in handle:
                stop_postgres(h)
    _settled_spare(templates, key, account)


def _one_round(
    root: Path,
    settings: PostgresSettings,
    bins: PgBinaries,
    run_as: str | None,
    account: Account | None,
    results: dict[str, list[float]],
) -> None:
    root.mkdir(mode=0o755)
    handle: list[PostgresHandle] = []

    def start(data: str, run: str) -> None:
        handle.append(start_postgres(settings, data_dir=root / data, run_dir=root / run))

    results["template"].append(timed(lambda: start("tpl", "run-tpl")))
    results["probe"].append(timed(lambda: probe_postgres(handle[-1])))
    results["stop"].append(timed(lambda: stop_postgres(handle[-1])))
    results["restart"].append(timed(lambda: start("tpl", "run-tpl")))
    stop_postgres(handle[-1])

    def initdb_then_start() -> None:
        plain = root / "plain"
        plain.mkdir(mode=0o700)
        if account:
            os.chown(plain, account.uid, account.gid)
        subprocess.run(
            as_user(
                [
                    str(bins.initdb),
                    "--no-sync",
                    "-D",
                    str(plain),
                    "-U",
                    settings.user,
                    "-E",
                    "UTF8",
                    "--locale=C",
                    "--auth-local=peer",
                    "--auth-host=reject",
                ],
                run_as,
            ),
            check=True,
            capture_output=True,
            cwd="/",
        )
        start("plain", "run-plain")

    results["initdb"].append(timed(initdb_then_start))
    stop_postgres(handle[-1])

    pg_ctl = [
        str(bins.pg_ctl),
        "-D",
        str(root / "tpl"),
        "-l",
        str(root / "tpl" / "ctl.log"),
        "-o",
        f"-k {root / 'tpl'} -h 127.0.0.1 -p {free_port()}",
    ]
    results["pg_ctl"].append(
        timed(
            lambda: subprocess.run(
                as_user([*pg_ctl, "-w", "start"], run_as), check=True, capture_output=True, cwd="/"
            )
        )
    )
    subprocess.run(
        as_user([str(bins.pg_ctl), "-D", str(root / "tpl"), "-m", "fast", "-w", "stop"], run_as),
        check=True,
        capture_output=True,
        cwd="/",
    )


if __name__ == "__main__":
    main()
