"""Whole-process CLI latency, this project against upstream metalab, in one run.

Measures every command of issue 14's table on two projects (PostgreSQL + Atlas), one per tool:
`import metalab`, `metalab --help` and every group's and subcommand's `--help`, `env list`,
`discover` (ours only: upstream has none), warm `services up` (reuse), `services status`
(healthy), `services down`, and cold `services up` twice: from nothing (no data directory: the
issue's "cold"; our PostgreSQL template cache is warm) and after a `down` (the data it keeps).
The two tools alternate A B B A within each round, and the order flips every round; the table
gives medians, the spread (min–max), n, the ratio of the medians (ours / upstream's), and the
paired ratio: the median (min–max) over blocks of ours / upstream's within one block, whose
runs are neighbours in time and so share the machine's load — on a busy machine the figure to
read. The issue's target is beside them.

Upstream runs from a scratch venv outside the repository with metalab and metalab-atlas
installed (its Atlas is ``python -m uvicorn atlas.main:app`` from that venv)::

    python3 -m venv /tmp/upatlas
    git -C UPSTREAM archive HEAD | tar -x -C /tmp/src-up       # matthewmazurek/metalab
    git -C ATLAS archive HEAD | tar -x -C /tmp/src-atlas       # matthewmazurek/metalab-atlas
    /tmp/upatlas/bin/pip install '/tmp/src-up[postgres]' /tmp/src-atlas

Upstream starts PostgreSQL through ``docker`` whenever one is on PATH, so its commands get a
PATH of its own (the PostgreSQL programs and its venv's ``bin``, nothing else). PostgreSQL
refuses to run as root, and upstream's wants ``/var/run/postgresql``: run as the ``postgres``
user, e.g.::

    runuser -u postgres -- .venv/bin/python -m benchmarks.bench_cli \
        --upstream /tmp/upatlas/bin/metalab

Our modules' bytecode must be up to date and readable (the benchmark's user cannot write it
into the repository; it warns when some is missing or stale, which adds compile time to every
run): ``python -m compileall -q clients/python/src services/*/src`` as their owner first.

Options: ``-n`` rounds (default 5), ``--only WORD`` (commands whose label contains WORD,
repeatable), ``--no-services`` (help, env list and import only).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks._timing import METALAB

PG_PROGRAMS = ("initdb", "pg_ctl", "postgres", "psql", "createdb", "pg_isready")

OURS_CONFIG = """
[project]
name = "bench-ours"
default_env = "local"
[services.postgres]
[services.atlas]
[environments.local]
type = "local"
file_root = "./runs"
[environments.slurm]
type = "slurm"
partition = "cpu"
"""

UPSTREAM_CONFIG = """
[project]
name = "bench-upstream"
default_env = "local"
[services.postgres]
port = {pg_port}
[services.atlas]
port = {atlas_port}
[environments.local]
type = "local"
file_root = "./runs"
[environments.slurm]
type = "slurm"
gateway = "login.example.org"
"""

FRESH = "services up (cold: no data directory)"
KEPT = "services up (cold: data kept by down)"
TARGETS = {
    "import metalab": 0.3,
    "services up (warm, reuse)": 0.6,
    "services status (healthy)": 0.6,
    FRESH: 0.25,
    "services down": 0.1,
    "env list": 0.5,
}
HELP_TARGET = 0.6
DISCOVER_TARGET_MS = 50.0


@dataclass
class Tool:
    """One CLI under test: how to run it, where its project lives, what its runs must show."""

    name: str
    argv0: list[str]
    python: str
    project: Path
    env: dict[str, str]
    quiet: list[str] = field(default_factory=list)
    data: list[Path] = field(default_factory=list)  # what `down` keeps: the services' data

    def up(self) -> float:
        return self.run(["services", "up", *self.quiet], "Services")

    def down(self) -> float:
        return self.run(["services", "down", *self.quiet])

    def run(self, args: Sequence[str], expect: str = "", stream: str = "stdout") -> float:
        return timed([*self.argv0, *args], self.project, self.env, expect, stream)

    def python_run(self, code: str) -> float:
        return timed([self.python, "-c", code], self.project, self.env)


@dataclass
class Row:
    label: str
    ours: list[float] = field(default_factory=list)
    upstream: list[float] = field(default_factory=list)
    target: float | None = None
    paired: list[float] = field(default_factory=list)  # ours / upstream within one block

    def pair(self, ours: list[float], upstream: list[float]) -> None:
        """Record one block's samples and their ratio (neighbours in time share the load)."""
        self.ours += ours
        self.upstream += upstream
        self.paired.append(sum(ours) / sum(upstream))


def timed(
    argv: Sequence[str], cwd: Path, env: dict[str, str], expect: str = "", stream: str = "stdout"
) -> float:
    """Wall-clock seconds of one process; fails when it fails or ``expect`` is not printed."""
    started = time.perf_counter()
    result = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    output = result.stdout if stream == "stdout" else result.stderr
    if result.returncode != 0 or expect not in output:
        raise RuntimeError(
            f"{' '.join(argv)} exited {result.returncode} without {expect!r}:\n"
            f"{result.stdout}\n{result.stderr}"
        )
    return elapsed


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def upstream_path(root: Path, upstream: Path) -> str:
    """A PATH with the PostgreSQL programs and upstream's venv only (no docker)."""
    bindir = root / "upstream-bin"
    bindir.mkdir()
    for name in PG_PROGRAMS:
        found = shutil.which(name)
        if found:
            (bindir / name).symlink_to(found)
    return f"{bindir}{os.pathsep}{upstream.parent}"


def our_help_paths() -> list[tuple[str, ...]]:
    """Every group and command of our CLI, walked through click."""
    import click

    from metalab._cli.main import cli

    found: list[tuple[str, ...]] = []

    def walk(command: click.Command, path: tuple[str, ...], ctx: click.Context) -> None:
        found.append(path)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None:
                    walk(sub, (*path, name), click.Context(sub, parent=ctx, info_name=name))

    walk(cli, (), click.Context(cli, info_name="metalab"))
    return found


def upstream_help_paths(tool: Tool) -> set[tuple[str, ...]]:
    """Upstream's argparse tree, read from the ``{a,b,...}`` choices of each usage line."""
    found: set[tuple[str, ...]] = set()
    pending: list[tuple[str, ...]] = [()]
    while pending:
        path = pending.pop()
        found.add(path)
        result = subprocess.run(
            [*tool.argv0, *path, "--help"], capture_output=True, text=True, env=tool.env
        )
        usage = result.stdout.split("\n\n", 1)[0]
        choices = re.search(r"\{([\w,-]+)\}", usage)
        if choices:
            pending.extend((*path, name) for name in choices.group(1).split(","))
    return found


def equivalent(path: tuple[str, ...], theirs: set[tuple[str, ...]]) -> tuple[str, ...]:
    """Upstream's command for ours: the same path, else its longest existing prefix."""
    while path not in theirs:
        path = path[:-1]
    return path


def spread(samples: list[float]) -> str:
    if not samples:
        return "—"
    median = statistics.median(samples) * 1000
    return f"{median:6.1f} ({min(samples) * 1000:.0f}–{max(samples) * 1000:.0f})"


def report(rows: list[Row]) -> None:
    """Medians with min–max; ratios: of the medians, and the median (min–max) of the blocks'."""
    print(
        f"{'command':<52} {'ours ms: median (min–max)':>26} {'upstream ms':>22} "
        f"{'ratio':>6} {'paired ratio':>18} {'target':>7}  n"
    )
    for row in rows:
        ratio = (
            f"{statistics.median(row.ours) / statistics.median(row.upstream):6.2f}"
            if row.ours and row.upstream
            else "     —"
        )
        paired = (
            f"{statistics.median(row.paired):.2f} ({min(row.paired):.2f}–{max(row.paired):.2f})"
            if row.paired
            else "—"
        )
        if row.target is not None:
            target = f"≤{row.target:.2f}×"
        elif row.label == "discover":
            target = f"≤{DISCOVER_TARGET_MS:.0f} ms"
        else:
            target = "—"
        n = f"{len(row.ours)}/{len(row.upstream)}" if row.upstream else str(len(row.ours))
        print(
            f"{row.label:<52} {spread(row.ours):>26} {spread(row.upstream):>22} "
            f"{ratio} {paired:>18} {target:>7}  {n}"
        )


def abba(row: Row, first_ours: bool, ours: object, theirs: object) -> None:
    """One A B B A block: two samples of each tool."""
    order = [ours, theirs, theirs, ours] if first_ours else [theirs, ours, ours, theirs]
    mine: list[float] = []
    other: list[float] = []
    for job in order:
        assert callable(job)
        (mine if job is ours else other).append(job())
    row.pair(mine, other)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", default="/tmp/upatlas/bin/metalab")
    parser.add_argument("--ours", default=METALAB)
    parser.add_argument("-n", type=int, default=5)
    parser.add_argument("--only", action="append", default=[])
    parser.add_argument("--no-services", action="store_true")
    options = parser.parse_args()
    if os.geteuid() == 0:
        sys.exit("run as an unprivileged user (PostgreSQL refuses root): runuser -u postgres -- …")
    stale = stale_bytecode()
    if stale:
        print(
            f"warning: {len(stale)} of our modules have no up-to-date bytecode (e.g. {stale[0]}) "
            "and this user cannot write it: every run compiles them. First run, as their owner: "
            "python -m compileall -q clients/python/src services/*/src",
            file=sys.stderr,
        )
    upstream = Path(options.upstream)
    root = Path(tempfile.mkdtemp(prefix="metalab-bench-cli-"))
    try:
        run_benchmark(root, upstream, options)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def stale_bytecode() -> list[str]:
    """Our source files whose cached bytecode is missing or older than the source."""
    import importlib.util

    repo = Path(__file__).resolve().parent.parent
    stale = []
    for source in [*repo.glob("clients/python/src/**/*.py"), *repo.glob("services/*/src/**/*.py")]:
        cached = Path(importlib.util.cache_from_source(str(source)))
        try:
            if cached.stat().st_mtime < source.stat().st_mtime:
                stale.append(str(source.relative_to(repo)))
        except OSError:  # missing, or unreadable for this user
            stale.append(str(source.relative_to(repo)))
    return stale


def run_benchmark(root: Path, upstream: Path, options: argparse.Namespace) -> None:
    ours_dir, up_dir = root / "ours", root / "upstream"
    ours_dir.mkdir()
    up_dir.mkdir()
    (ours_dir / ".metalab.toml").write_text(OURS_CONFIG)
    (up_dir / ".metalab.toml").write_text(
        UPSTREAM_CONFIG.format(pg_port=free_port(), atlas_port=free_port())
    )
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB")}
    ours = Tool(
        "ours",
        [options.ours],
        sys.executable,
        ours_dir,
        {**base_env, "HOME": str(root / "home-ours"), "XDG_CACHE_HOME": str(root / "cache")},
        quiet=["-q"],
        data=[ours_dir / "runs"],
    )
    theirs = Tool(
        "upstream",
        [str(upstream)],
        str(upstream.parent / "python"),
        up_dir,
        {
            **{k: v for k, v in base_env.items() if k != "PYTHONPATH"},
            "HOME": str(root / "home-up"),
            "PATH": upstream_path(root, upstream),
        },
        data=[root / "home-up" / ".metalab" / "services" / "postgres", up_dir / "runs"],
    )

    def wanted(label: str) -> bool:
        return not options.only or any(word in label for word in options.only)

    rows: list[Row] = []
    blocks: list[tuple[Row, object, object]] = []

    def block(label: str, mine: object, other: object | None) -> None:
        if wanted(label):
            row = Row(label, target=TARGETS.get(label, HELP_TARGET if "--help" in label else None))
            rows.append(row)
            blocks.append((row, mine, other))

    block("python -c pass (baseline, same interpreter)", lambda: ours.python_run("pass"), None)
    block(
        "import metalab",
        lambda: ours.python_run("import metalab"),
        lambda: theirs.python_run("import metalab"),
    )
    theirs_help = upstream_help_paths(theirs)
    for path in our_help_paths():
        same = equivalent(path, theirs_help)
        label = " ".join(("metalab", *path, "--help"))
        if same != path:
            label += f"  [vs {' '.join(('metalab', *same))}]"
        block(
            label,
            lambda p=path: ours.run([*p, "--help"], "Usage:"),
            lambda p=same: theirs.run([*p, "--help"], "usage:"),
        )
    block("env list", lambda: ours.run(["env", "list"]), lambda: theirs.run(["env", "list"]))
    services = not options.no_services
    if services:
        ours.up()
        theirs.up()
    if services:
        block("discover", lambda: ours.run(["discover"], "postgresql://"), None)
    fresh = Row(FRESH, target=TARGETS[FRESH])
    kept = Row(KEPT)
    down = Row("services down", target=TARGETS["services down"])
    if services:
        block(
            "services up (warm, reuse)",
            lambda: ours.run(["services", "up", "-q"], "Services reused"),
            lambda: theirs.run(["services", "up"], "reusing", "stderr"),
        )
        block(
            "services status (healthy)",
            lambda: ours.run(["services", "status"], "✓ atlas"),
            lambda: theirs.run(["services", "status"], "✓ atlas"),
        )
    for rnd in range(options.n):
        first_ours = rnd % 2 == 0
        for row, mine, other in blocks:
            if other is None:
                assert callable(mine)
                row.ours.extend((mine(), mine()))
            else:
                abba(row, first_ours, mine, other)
        if services and any(wanted(r.label) for r in (fresh, kept, down)):
            order = [ours, theirs] if first_ours else [theirs, ours]
            downs: dict[str, list[float]] = {"ours": [], "upstream": []}
            for tool in order:  # A B: down; B A: up again on the data `down` kept
                downs[tool.name].append(tool.down())
            times = {tool.name: tool.up() for tool in reversed(order)}
            kept.pair([times["ours"]], [times["upstream"]])
            for tool in order:  # A B: down and delete the data; B A: up from nothing
                downs[tool.name].append(tool.down())
                for data_dir in tool.data:
                    shutil.rmtree(data_dir, ignore_errors=True)
            times = {tool.name: tool.up() for tool in reversed(order)}
            fresh.pair([times["ours"]], [times["upstream"]])
            down.pair(downs["ours"], downs["upstream"])
        print(f"round {rnd + 1}/{options.n} done", file=sys.stderr)
    if services:
        for tool in (ours, theirs):
            tool.down()
        rows += [r for r in (fresh, kept, down) if r.ours]
    report(rows)


if __name__ == "__main__":
    main()
