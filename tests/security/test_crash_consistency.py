"""Crash-consistent provisioning: `services up` killed with SIGKILL at any instant leaves
nothing `down` cannot find, and a `provisioning` bundle is never reported healthy.

Real processes throughout: the `metalab` CLI (embedded orchestrator), PostgreSQL and Atlas.
The kill instants are spread evenly over a measured run of `up`, from its first line of Python
to its last write of the bundle.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.security.bundle_helpers import PG_ATLAS, bundle_file, make_project
from tests.support.prewarm import prewarmed_children_of

METALAB = str(Path(sys.executable).parent / "metalab")
KILLS = 24


def _env() -> dict[str, str]:
    extra = {"METALAB__SERVICES__POSTGRES__RUN_AS": "metalab"} if os.geteuid() == 0 else {}
    return {**os.environ, **extra}


def _run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [METALAB, "services", *args],
        cwd=project,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
        start_new_session=True,
    )


def _timed_up(project: Path) -> float:
    started = time.monotonic()
    result = _run(project, "up")
    assert result.returncode == 0, result.stderr
    return time.monotonic() - started


def _environment_processes(services_dir: Path) -> list[str]:
    """Live processes whose working directory or command line names ``services_dir``."""
    marker = str(services_dir)
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            state = Path(entry.path, "stat").read_text().rsplit(") ", 1)[1][0]
            cmdline = Path(entry.path, "cmdline").read_bytes().replace(b"\0", b" ").decode()
            try:
                cwd = os.readlink(Path(entry.path, "cwd"))
            except OSError:
                cwd = ""
        except (OSError, IndexError):
            continue
        if state in "ZX":
            continue
        if cwd == marker or cwd.startswith(marker + "/") or marker in cmdline:
            found.append(f"{entry.name}: {cmdline.strip()[:120]} (cwd {cwd})")
    return found


def _orphans(services_dir: Path, settle: float = 1.0) -> list[str]:
    """The environment's processes still alive after ``settle`` s (a gate that lost its
    parent exits on its own within microseconds)."""
    deadline = time.monotonic() + settle
    while True:
        found = _environment_processes(services_dir)
        if not found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _containers(services_dir: Path) -> list[str]:
    """Containers labelled with ``services_dir`` (running or not: `down` removes them all)."""
    listed = subprocess.run(
        ["docker", "ps", "-a", "--format", "{{.ID}} {{.Names}} {{.Status}}", "--filter"]
        + [f"label=io.metalab.services-dir={services_dir}"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return [line for line in listed.stdout.splitlines() if line.strip()]


@pytest.mark.postgres
def test_kill_9_of_up_at_any_instant_leaves_no_process_after_down(open_tmp: Path) -> None:
    project = make_project(open_tmp, template=PG_ATLAS)
    services_dir = (project / "runs" / "services").resolve()
    _kill_up_at_spread_instants(project, services_dir, list)


ATLAS_IMAGE = "metalab:latest"  # built from this checkout by the `images` fixture


@pytest.mark.docker
@pytest.mark.usefixtures("images")
def test_kill_9_of_up_in_containers_leaves_no_container_after_down(open_tmp: Path) -> None:
    project = make_project(open_tmp, template=PG_ATLAS)
    config = project / ".metalab.toml"
    text = config.read_text().replace(
        "[services.atlas]", f'[services.atlas]\nimage = "{ATLAS_IMAGE}"'
    )
    config.write_text(text + 'runtime = "docker"\n')
    services_dir = (project / "runs" / "services").resolve()
    _kill_up_at_spread_instants(project, services_dir, lambda: _containers(services_dir))


def _kill_up_at_spread_instants(
    project: Path, services_dir: Path, leftovers: Callable[[], list[str]]
) -> None:
    _timed_up(project)  # the PostgreSQL template is cached and the data directory exists
    assert _run(project, "down").returncode == 0
    timings = []
    for _ in range(3):  # the median: one `up` slowed by a busy machine must not set the spread
        timings.append(_timed_up(project))
        assert _run(project, "down").returncode == 0
    duration = max(statistics.median(timings), 0.3)
    orphans: list[str] = []
    reported_healthy: list[str] = []
    states: dict[str, int] = {}
    for i in range(KILLS):
        at = duration * (i + 0.5) / KILLS
        process = subprocess.Popen(
            [METALAB, "services", "up"],
            cwd=project,
            env=_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(at)
        process.send_signal(signal.SIGKILL)
        process.wait()
        try:
            state = str(json.loads(bundle_file(project).read_text()).get("state"))
        except (OSError, ValueError):
            state = "none"
        states[state] = states.get(state, 0) + 1
        status = _run(project, "status", "--json")
        healthy = json.loads(status.stdout)["healthy"] if status.stdout.strip() else False
        assert "Traceback" not in status.stderr, status.stderr
        if state != "ready" and (status.returncode == 0 or healthy):
            reported_healthy.append(f"kill at {at:.2f}s: {state} bundle reported healthy")
        down = _run(project, "down")
        assert down.returncode == 0, f"kill at {at:.2f}s: {down.stderr}"
        left = _orphans(services_dir) + leftovers() + prewarmed_children_of(process.pid)
        orphans += [f"kill at {at:.2f}s: {p}" for p in left]
    print(f"up takes {duration:.2f}s; {KILLS} kills; bundle states {states}; orphans {orphans}")
    assert orphans == []
    assert reported_healthy == []
    assert states.get("provisioning", 0) + states.get("none", 0) >= KILLS // 2
