"""A 1,000-run no-op sweep through metalab's public API: this package against upstream's.

The same sweep script (public API only: ``@metalab.operation``, ``Experiment``, ``grid``,
``seeds``, ``run(...).result()``) runs under this project's venv and under upstream metalab
installed in a scratch venv outside the repository, one after the other in this process's
lifetime, for each executor (in-process, ``ProcessExecutor``) and store (file, PostgreSQL).
Each figure is the sweep's wall time inside the script (imports excluded), median of N fresh
stores; the ratio is ours / upstream's.

    python -m benchmarks.bench_sdk --upstream-python /tmp/upvenv/bin/python [--runs 1000] [-n 3]

Making the scratch venv (docs/compatibility.md)::

    python3 -m venv /tmp/upvenv && mkdir /tmp/upsrc
    git -C UPSTREAM archive HEAD | tar -x -C /tmp/upsrc
    /tmp/upvenv/bin/pip install /tmp/upsrc numpy 'psycopg[binary]' psycopg-pool
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import textwrap
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

SWEEP = textwrap.dedent(
    """
    import sys
    import time

    import metalab


    @metalab.operation
    def noop(params, seeds, capture):
        capture.metric("x", params["i"])


    def main():
        runs, store, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        replicates = 10
        exp = metalab.Experiment(
            name="bench",
            version="1",
            context={},
            operation=noop,
            params=metalab.grid(i=list(range(runs // replicates))),
            seeds=metalab.seeds(base=1, replicates=replicates),
        )
        executor = metalab.ProcessExecutor(max_workers=2) if mode == "process" else None
        started = time.perf_counter()
        results = metalab.run(exp, store=store, executor=executor, verbose=False).result()
        elapsed = time.perf_counter() - started
        assert len(results) == runs, len(results)
        print(elapsed)


    if __name__ == "__main__":
        main()
    """
)


def sweep_seconds(python: str, script: Path, runs: int, store: str, mode: str) -> float:
    result = subprocess.run(
        [python, str(script), str(runs), store, mode],
        capture_output=True,
        text=True,
        cwd=script.parent,
    )
    if result.returncode != 0:
        from metalab.core.redact import redact_locator

        shown = redact_locator(store)  # the upstream locator carries a password
        raise RuntimeError(f"{python} {mode} {shown}: failed (exit {result.returncode})")
    return float(result.stdout.strip().splitlines()[-1])


@contextmanager
def store_factory(kind: str, base: Path) -> Iterator[Callable[[str], str]]:
    """Yields a callable giving a fresh store locator per sample, for "ours" or "upstream".

    Upstream's locators drop libpq parameters such as ``passfile=``, so its PostgreSQL
    locator carries the throwaway server's password (never printed); ours uses the passfile.
    """
    if kind == "file":
        files = iter(range(10**6))
        yield lambda side: str(base / f"store-{next(files)}")
        return
    from tests.support.postgres import throwaway_postgres

    with throwaway_postgres() as server:
        counter = iter(range(10**6))

        def fresh(side: str) -> str:
            database = server.create_database()
            file_root = base / f"pg-{next(counter)}"
            if side == "upstream":
                where = f"metalab:{server.password}@127.0.0.1:{server.port}/{database}"
                return f"postgresql://{where}?file_root={file_root}"
            return f"{server.dsn(database)}&file_root={file_root}"

        yield fresh


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--upstream-python", required=True, help="python of upstream's venv")
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("-n", type=int, default=3, help="samples per figure")
    parser.add_argument("--stores", default="file,postgres")
    parser.add_argument("--modes", default="inprocess,process")
    args = parser.parse_args()
    pythons = {"ours": sys.executable, "upstream": args.upstream_python}
    with tempfile.TemporaryDirectory(prefix="bench-sdk-") as tmp:
        base = Path(tmp)
        script = base / "sweep.py"
        script.write_text(SWEEP)
        for kind in args.stores.split(","):
            with store_factory(kind, base) as fresh:
                for mode in args.modes.split(","):
                    medians: dict[str, float] = {}
                    for side in ("upstream", "ours", "upstream", "ours"):
                        samples = [
                            sweep_seconds(pythons[side], script, args.runs, fresh(side), mode)
                            for _ in range(args.n)
                        ]
                        medians.setdefault(side, statistics.median(samples))
                        medians[side] = min(medians[side], statistics.median(samples))
                    ratio = medians["ours"] / medians["upstream"]
                    print(
                        f"{args.runs} runs {kind:<8} {mode:<9}"
                        f" upstream {medians['upstream']:7.2f} s"
                        f"  ours {medians['ours']:7.2f} s  ratio {ratio:.2f}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
