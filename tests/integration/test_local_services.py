"""`metalab services up/status/down/logs` with real PostgreSQL and Atlas processes."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import METALAB
from tests.integration.local_services import (
    alive,
    as_root_env,
    bundle_of,
    cli,
    make_project,
    pids,
)

pytestmark = pytest.mark.postgres


FILE_ONLY = """
[project]
name = "{name}"

[environments.local]
type = "local"
file_root = "./runs"
"""


@pytest.fixture
def project(open_tmp: Path) -> Iterator[Path]:
    path = make_project(open_tmp)
    yield path
    cli(path, "services", "down", "-q")


def test_postgres_backed_lifecycle(project: Path) -> None:
    up = cli(project, "services", "up")
    assert up.returncode == 0, up.stderr
    lines = up.stdout.splitlines()
    assert lines[0] == "Services started (local):"
    assert lines[1].startswith("  postgres: 127.0.0.1:")
    assert lines[2].startswith("  atlas: http://127.0.0.1:")
    assert "starting postgres" in up.stderr and "ready" in up.stderr
    bundle = bundle_of(project)
    assert bundle["state"] == "ready" and bundle["schema_version"] == 1
    bundle_file = project / "runs/services/bundle.json"
    assert stat.S_IMODE(bundle_file.stat().st_mode) == 0o600
    for name in ("postgres.password", "postgres.pgpass"):
        assert stat.S_IMODE((project / "runs/services/run" / name).stat().st_mode) == 0o600

    status = cli(project, "services", "status")
    assert status.returncode == 0, status.stdout
    assert "  ✓ postgres: 127.0.0.1:" in status.stdout and "(running)" in status.stdout
    data = json.loads(cli(project, "services", "status", "--json").stdout)
    assert data["healthy"] and {s["name"] for s in data["services"]} == {"postgres", "atlas"}

    again = cli(project, "services", "up")
    assert again.returncode == 0 and again.stdout.startswith("Services reused (local):")
    assert pids(bundle_of(project)) == pids(bundle)

    nested = project / "src" / "deep"
    nested.mkdir(parents=True)
    found = cli(nested, "discover")
    assert found.returncode == 0
    assert found.stdout.startswith("postgresql://metalab@127.0.0.1:")
    assert "file_root=" in found.stdout and "passfile=" in found.stdout

    logs = cli(project, "services", "logs", "postgres", "-n", "5")
    assert logs.returncode == 0 and "ready to accept connections" in logs.stdout
    atlas_logs = cli(project, "services", "logs", "atlas")
    assert "atlas: serving postgresql://metalab@127.0.0.1:" in atlas_logs.stdout

    down = cli(project, "services", "down")
    assert down.returncode == 0 and down.stdout == "Services stopped (local).\n"
    assert "stopping atlas" in down.stderr.split("stopping postgres")[0]
    assert not any(alive(pid) for pid in pids(bundle).values())
    assert not bundle_file.exists()
    assert cli(project, "services", "status").returncode == 1
    log = (project / "runs/services/run/postgres.log").read_text()
    assert "database system is shut down" in log


def test_file_only_scenario(open_tmp: Path) -> None:
    project = make_project(open_tmp, FILE_ONLY)
    try:
        up = cli(project, "services", "up")
        assert up.returncode == 0, up.stderr
        assert up.stdout.splitlines()[1:] == [up.stdout.splitlines()[1]]
        assert up.stdout.splitlines()[1].startswith("  atlas: http://127.0.0.1:")
        bundle = bundle_of(project)
        assert bundle["store_locator"] == str(project / "runs")
        assert cli(project, "discover").stdout.strip() == str(project / "runs")
        assert cli(project, "services", "status").returncode == 0
    finally:
        assert cli(project, "services", "down").returncode == 0


def test_killed_postgres_is_detected_and_reprovisioned(project: Path) -> None:
    assert cli(project, "services", "up").returncode == 0
    before = pids(bundle_of(project))
    os.kill(before["postgres"], signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(before["postgres"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    status = cli(project, "services", "status")
    assert status.returncode == 1
    assert "✗ postgres" in status.stdout and "(unreachable)" in status.stdout
    up = cli(project, "services", "up")
    assert up.returncode == 0, up.stderr
    assert "stale bundle" in up.stderr and up.stdout.startswith("Services started")
    after = pids(bundle_of(project))
    assert after["postgres"] != before["postgres"]
    assert not alive(before["atlas"])
    assert cli(project, "services", "status").returncode == 0


def test_cli_killed_mid_up_converges(project: Path) -> None:
    env = {**os.environ, **as_root_env()}
    process = subprocess.Popen(
        [METALAB, "services", "up"],
        cwd=project,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    bundle_file = project / "runs/services/bundle.json"
    deadline = time.monotonic() + 60
    while not bundle_file.exists() and time.monotonic() < deadline:
        time.sleep(0.005)
    process.kill()
    process.wait()
    half = bundle_of(project)
    up = cli(project, "services", "up")
    assert up.returncode == 0, up.stderr
    fresh = pids(bundle_of(project))
    for name, pid in pids(half).items():
        assert pid == fresh.get(name) or not alive(pid), f"orphaned {name} {pid}"
    assert cli(project, "services", "status").returncode == 0


def test_concurrent_ups_provision_once(project: Path) -> None:
    env = {**os.environ, **as_root_env()}
    procs = [
        subprocess.Popen(
            [METALAB, "services", "up", "-q"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    firsts = sorted(out.splitlines()[0] for out, _ in outputs)
    assert firsts == ["Services reused (local):", "Services started (local):"]


def test_busy_configured_port_is_a_clear_error(open_tmp: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        project = make_project(open_tmp, atlas_extra=f"port = {port}")
        up = cli(project, "services", "up")
    assert up.returncode == 1
    assert f"port {port} on 127.0.0.1 is already in use" in up.stderr
    assert up.stderr.count("metalab: error:") == 1
    assert not (project / "runs/services/bundle.json").exists()
    postmaster = project / "runs/services/postgres/data/postmaster.pid"
    assert not postmaster.exists(), "postgres left running after a failed up"


def test_missing_postgres_binaries(project: Path) -> None:
    up = cli(project, "services", "up", env={"METALAB_PG_BIN": "/nonexistent"})
    assert up.returncode == 1
    assert "metalab: error:" in up.stderr and "Traceback" not in up.stderr
    assert not (project / "runs/services/bundle.json").exists()


def test_bad_auth_method_is_a_config_error(open_tmp: Path) -> None:
    project = make_project(open_tmp)
    config = project / ".metalab.toml"
    config.write_text(config.read_text().replace('"scram-sha-256"', '"ident"'))
    up = cli(project, "services", "up")
    assert up.returncode == 2
    assert ".metalab.toml: services.postgres.auth_method:" in up.stderr


def test_password_never_leaks(open_tmp: Path) -> None:
    project = make_project(open_tmp, postgres_extra='password = "Very-Secret-Pw-42"')
    secret = "Very-Secret-Pw-42"
    try:
        outputs = [
            cli(project, *args)
            for args in (
                ["services", "up"],
                ["services", "status", "--json"],
                ["discover"],
                ["discover", "--json"],
                ["env", "show"],
                ["env", "show", "--json"],
                ["services", "up", "--json"],
                ["services", "logs", "-n", "200"],
            )
        ]
        for result in outputs:
            assert secret not in result.stdout + result.stderr
        ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
        assert secret not in ps
        run_dir = project / "runs/services/run"
        for log in run_dir.glob("*.log"):
            assert secret not in log.read_text(errors="replace")
        assert secret not in (project / "runs/services/bundle.json").read_text()
        files = [p for p in run_dir.iterdir() if p.is_file()]
        holders = [p.name for p in files if secret in p.read_text(errors="replace")]
        assert sorted(holders) == ["postgres.password", "postgres.pgpass"]
    finally:
        cli(project, "services", "down", "-q")


def test_warm_up_answers_without_grpc(project: Path) -> None:
    """The reuse path reads the bundle and probes in-process (docs/architecture.md)."""
    assert cli(project, "services", "up", "-q").returncode == 0
    code = (
        "import sys, json\n"
        "from metalab._cli.main import main\n"
        "try:\n"
        "    main(['services', 'up', '-q'])\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    env = {**os.environ, **as_root_env()}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.startswith("Services reused (local):"), result.stderr
    modules = json.loads(result.stderr.strip().splitlines()[-1])
    heavy = [m for m in modules if m.split(".")[0] in ("grpc", "pydantic", "psycopg")]
    assert not heavy
