"""`services up/status/down` with `runtime = "docker"` (and `auto` without native binaries) on the
real Docker engine: labelled containers, data in the services directory, secrets in files."""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from metalab._runstore.locator import parse_locator
from tests.helpers import METALAB
from tests.integration.atlas.dataset import populate
from tests.integration.containers.runtime_helpers import LABEL, make, query, set_runtime
from tests.integration.fast_path import fast, grpc_path, invoke
from tests.integration.index_catch_up import catches_up
from tests.integration.local_services import as_root_env, bundle_of, cli
from tests.support.components import postgres_missing, require

pytestmark = [pytest.mark.docker, pytest.mark.timeout(240)]


def ours(project: Path) -> list[Any]:
    """Every container labelled with this project's services directory."""
    where = str(project / "runs" / "services")
    found: list[Any] = docker.from_env().containers.list(
        all=True, filters={"label": f"{LABEL}.services-dir={where}"}
    )
    return found


def no_native_env(tmp: Path) -> dict[str, str]:
    """PATH and METALAB_PG_ROOT without PostgreSQL's server programs (psql stays: a client)."""
    empty = tmp / "no-postgres"
    empty.mkdir(exist_ok=True)
    venv_bin = str(Path(METALAB).parent)
    return {"PATH": f"{venv_bin}:/usr/bin:/bin", "METALAB_PG_ROOT": str(empty)}


@pytest.fixture
def project(open_tmp: Path, images: None) -> Iterator[Path]:
    path = make(open_tmp, "boxed")
    yield path
    cli(path, "services", "down", "-q")
    for container in ours(path):
        container.remove(force=True)


def test_docker_runtime_lifecycle(project: Path) -> None:
    up = cli(project, "services", "up")
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith("Services started (local):")
    assert "runtime docker (configured; docker engine at" in up.stderr
    bundle = bundle_of(project)
    assert bundle["runtime"] == "docker"
    containers = {c.labels[f"{LABEL}.service"]: c for c in ours(project)}
    assert set(containers) == {"postgres", "atlas"}
    for name, container in containers.items():
        labels = container.labels
        assert labels[f"{LABEL}.project"] == "boxed"
        assert labels[f"{LABEL}.environment"] == "local"
        assert container.status == "running"
        assert bundle["services"][name]["container_id"] == container.id  # type: ignore[index]
    pg = containers["postgres"].attrs
    bindings = pg["HostConfig"]["PortBindings"]["5432/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
    assert containers["atlas"].attrs["HostConfig"]["NetworkMode"] == "host"
    password = (project / "runs/services/run/postgres.password").read_text()
    for container in containers.values():
        assert password not in json.dumps(container.attrs)
    owner = pwd.getpwnam("metalab").pw_uid if os.geteuid() == 0 else os.geteuid()  # run_as
    assert (project / "runs/services/postgres/data").stat().st_uid == owner

    status = cli(project, "services", "status")
    assert status.returncode == 0, status.stdout
    assert "✓ postgres" in status.stdout and "✓ atlas" in status.stdout
    for args in (["services", "status"], ["services", "up"], ["services", "up", "--json"]):
        code, out, err, modules = fast(project, *args)  # the same checks, without gRPC
        assert (code, out, err) == invoke(project, "main", args)[:3]  # click prints the same
        assert "grpc" not in {m.split(".")[0] for m in modules}
        slow = grpc_path(project, *args)
        assert code == slow[0] == 0, err
        if "--json" not in args:
            assert out == slow[1]
            continue
        mine, theirs = json.loads(out), json.loads(slow[1])
        assert mine.pop("services").keys() == (services := theirs.pop("services")).keys()
        assert mine == theirs
        for name, handle in services.items():  # gRPC's ServiceHandle has no container fields
            assert handle.items() <= json.loads(out)["services"][name].items()
    locator = cli(project / "runs", "discover").stdout.strip()
    assert locator.startswith("postgresql://metalab@127.0.0.1:") and "passfile=" in locator
    store = parse_locator(locator).open()
    try:
        populate(store)  # a sweep of 24 runs into the store
    finally:
        store.close()
    url = bundle["services"]["atlas"]["url"]  # type: ignore[index]
    token = Path(bundle["services"]["atlas"]["secret_ref"]).read_text().strip()  # type: ignore[index]
    auth = {"Authorization": f"Bearer {token}"}  # Atlas needs its token on loopback too
    with httpx.Client(base_url=url, headers=auth, timeout=10) as http:
        assert http.get("/api/health").json()["store_readable"]
        runs = http.get("/api/experiments/sweep/runs", params={"sort": "metrics.loss"})
        assert runs.json()["total"] == 24

    again = cli(project, "services", "up")
    assert again.returncode == 0 and again.stdout.startswith("Services reused (local):")
    assert {c.id for c in ours(project)} == {c.id for c in containers.values()}

    down = cli(project, "services", "down")
    assert down.returncode == 0, down.stderr
    assert "stopping atlas" in down.stderr.split("stopping postgres")[0]
    assert ours(project) == []
    assert not (project / "runs/services/bundle.json").exists()
    log = (project / "runs/services/run/postgres.log").read_text()
    assert "database system is shut down" in log

    cold = cli(project, "services", "up")
    assert cold.returncode == 0, cold.stderr
    assert query(project, "SELECT count(*) > 0 FROM pg_database")[0][0]


def test_auto_without_native_binaries_picks_docker(open_tmp: Path, images: None) -> None:
    project = make(open_tmp, "autobox", runtime="")
    hidden = no_native_env(open_tmp)
    try:
        shown = cli(project, "env", "show", "--origin", env=hidden)
        assert "Runtime: docker  [auto: no PostgreSQL binaries; docker engine at" in shown.stdout
        native = cli(project, "env", "show", "--origin")
        if postgres_missing() is None:
            assert "Runtime: native  [auto: PostgreSQL binaries in" in native.stdout
        up = cli(project, "services", "up", env=hidden)
        assert up.returncode == 0, up.stderr
        assert bundle_of(project)["runtime"] == "docker"
        status = cli(project, "services", "status", env=hidden)
        assert status.returncode == 0, status.stdout
        assert cli(project, "discover", env=hidden).stdout.startswith("postgresql://")
    finally:
        assert cli(project, "services", "down", env=hidden).returncode == 0
    assert ours(project) == []


def test_kill_9_of_up_converges(project: Path) -> None:
    process = subprocess.Popen(
        [METALAB, "services", "up"],
        cwd=project,
        env={**os.environ, **as_root_env()},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not ours(project) and time.monotonic() < deadline:
        time.sleep(0.01)  # killed right after the first container exists
    process.send_signal(signal.SIGKILL)
    process.wait()
    up = cli(project, "services", "up")
    assert up.returncode == 0, up.stderr
    containers = ours(project)
    assert sorted(c.labels[f"{LABEL}.service"] for c in containers) == ["atlas", "postgres"]
    assert all(c.status == "running" for c in containers)
    assert cli(project, "services", "status").returncode == 0


def test_concurrent_ups_provision_once(project: Path) -> None:
    procs = [
        subprocess.Popen(
            [METALAB, "services", "up", "-q"],
            cwd=project,
            env={**os.environ, **as_root_env()},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=180) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    firsts = sorted(out.splitlines()[0] for out, _ in outputs)
    assert firsts == ["Services reused (local):", "Services started (local):"]
    assert len(ours(project)) == 2


def test_runtime_switch_keeps_the_data(project: Path) -> None:
    require(postgres_missing())
    assert cli(project, "services", "up").returncode == 0
    query(project, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (42)")
    set_runtime(project, "native")
    native = cli(project, "services", "up")
    assert native.returncode == 0, native.stderr
    assert native.stdout.startswith("Services started")
    assert bundle_of(project)["runtime"] == "native" and ours(project) == []
    assert query(project, "SELECT x FROM kept") == [(42,)]
    query(project, "INSERT INTO kept VALUES (43)")
    set_runtime(project, "docker")
    boxed = cli(project, "services", "up")
    assert boxed.returncode == 0, boxed.stderr
    assert bundle_of(project)["runtime"] == "docker" and len(ours(project)) == 2
    assert query(project, "SELECT x FROM kept ORDER BY x") == [(42,), (43,)]


def test_unavailable_runtime_and_missing_image_are_one_line_errors(
    open_tmp: Path, images: None
) -> None:
    project = make(open_tmp, "nopod", runtime="docker")
    assert cli(project, "services", "up").returncode == 0
    running = {c.id for c in ours(project)}
    try:
        set_runtime(project, "podman")
        up = cli(project, "services", "up", env={"CONTAINER_HOST": "unix:///nonexistent.sock"})
        assert up.returncode == 1
        assert 'metalab: error: runtime = "podman" is unavailable: no podman engine' in up.stderr
        assert up.stderr.count("metalab: error:") == 1 and "Traceback" not in up.stderr
        assert {c.id for c in ours(project) if c.status == "running"} == running  # untouched
    finally:
        set_runtime(project, "docker")
        assert cli(project, "services", "down").returncode == 0

    imageless = make(open_tmp, "noimage", postgres_extra='image = "metalab-postgres:absent"')
    up = cli(imageless, "services", "up")
    assert up.returncode == 1
    error = [line for line in up.stderr.splitlines() if line.startswith("metalab: error:")]
    assert len(error) == 1 and "build it with scripts/build-postgres-image.sh" in error[0]
    assert ours(imageless) == []

    trusting = make(open_tmp, "trusting", postgres_extra='auth_method = "trust"')
    up = cli(trusting, "services", "up")
    assert up.returncode == 2 and "trust authentication needs the native runtime" in up.stderr
    assert ours(trusting) == []


def test_a_foreign_container_with_our_name_is_left_alone(project: Path) -> None:
    assert cli(project, "services", "up").returncode == 0
    postgres = next(c for c in ours(project) if c.labels[f"{LABEL}.service"] == "postgres")
    name, labels = postgres.name, dict(postgres.labels)
    assert cli(project, "services", "down").returncode == 0
    engine = docker.from_env()
    impostor = engine.containers.create("metalab-postgres:latest", name=name, labels=labels)
    try:
        up = cli(project, "services", "up")
        assert up.returncode == 1
        assert "(labels or mounts differ): left alone" in up.stderr
        assert engine.containers.get(impostor.id).name == name
    finally:
        impostor.remove(force=True)


def test_a_tampered_bundle_engine_is_not_trusted(project: Path) -> None:
    assert cli(project, "services", "up").returncode == 0
    path = project / "runs/services/bundle.json"
    bundle = json.loads(path.read_text())
    bundle["services"]["postgres"]["engine"] = "tcp://127.0.0.1:9"
    path.write_text(json.dumps(bundle))
    status = cli(project, "services", "status")
    assert status.returncode == 1 and "✗ postgres" in status.stdout
    assert "container is gone" in status.stdout
    code, out, err, modules = fast(project, "services", "status")
    assert (code, out, err) == grpc_path(project, "services", "status")[:3]
    assert "grpc" in {m.split(".")[0] for m in modules}  # not healthy: the orchestrator answers
    down = cli(project, "services", "down")
    assert down.returncode == 0, down.stderr
    assert ours(project) == []  # found on this machine's engine by labels and mounts


def test_up_catches_the_index_up(project: Path) -> None:
    """Runs written while the container's PostgreSQL was down reach the index after `up`."""
    catches_up(cli, project)
