"""Operations the multi-node sweeps run (importable by module path from the array tasks)."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import metalab
from metalab.capture import Capture
from tests.integration.slurm.project import Project


@metalab.operation
def hold(params: dict[str, Any], capture: Capture) -> None:
    """Hold a CPU slot for ``params["sleep"]`` seconds, recording when and where.

    With ``params["marks"]`` (a directory every node sees) it also leaves a file named
    ``{i}@{host}`` there as it starts, so a test can tell where a run is running. With
    ``params["gate"]`` (a path), runs from ``params["gated_from"]`` on wait until it exists
    (at most two minutes) before they hold.
    """
    host = socket.gethostname()
    if params.get("marks"):
        (Path(params["marks"]) / f"{params['i']}@{host}").touch()
    if params.get("gate") and params["i"] >= params.get("gated_from", 0):
        deadline = time.monotonic() + 120
        while not Path(params["gate"]).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    started = time.time()
    time.sleep(float(params.get("sleep", 1.0)))
    capture.metric("i", params["i"])
    capture.metric("t0", started)
    capture.metric("t1", time.time())
    capture.metric("host", host)


def sweep(name: str, runs: int, **params: Any) -> metalab.Experiment:
    """``runs`` runs of `hold`, params ``{"i": 0..runs-1, **params}``, one seed."""
    return metalab.Experiment(
        name=name,
        version="1",
        context={},
        operation=hold,
        params=metalab.manual([{"i": i, **params} for i in range(runs)]),
        seeds=metalab.seeds(base=0),
    )


def psql(project: Project, pg: dict[str, Any], sql: str) -> str:
    done = try_psql(project, pg, sql)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def try_psql(project: Project, pg: dict[str, Any], sql: str) -> subprocess.CompletedProcess[str]:
    """`psql` of ``sql`` on the recorded server, whether or not it answers."""
    return subprocess.run(
        ["psql", "-XAtw", "-h", str(pg["host"]), "-p", str(pg["port"]), "-U", str(pg["user"])]
        + ["-d", str(pg["database"]), "-c", sql],
        capture_output=True,
        text=True,
        env={**project.env, "PGPASSFILE": str(pg["passfile"])},
        timeout=30,
    )


def postmasters(data_dir: str) -> int:
    """Live PostgreSQL servers started on ``data_dir`` (their command line names it)."""
    count = 0
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"postgres") and data_dir.encode() in argv:
            count += 1
    return count


def outputs(project: Project) -> str:
    """The jobs' output and the service logs, for a failure message."""
    files = sorted((project.services_dir / "slurm").glob("job-*.out"))
    files += sorted((project.services_dir / "run").glob("*.log"))
    return "\n".join(f"== {f}\n{f.read_text(errors='replace')[-3000:]}" for f in files)
