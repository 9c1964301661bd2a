"""`docker compose up` runs metalab's services; the host CLI drives the local lifecycle.

Against a real Docker engine (skipped on a laptop without it, failed under METALAB_CI=1):
build the image, `compose up --wait`, `services up/status/discover/down` from the host with
METALAB_SERVER + METALAB_TOKEN, Atlas on its published port, a run written through
`store="discover"`, a restart of the orchestrator container, and a `compose down`/`up` cycle
that keeps the data.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import CONTAINER_UID, Stack, build_image, docker_problem
from tests.helpers import run_cli
from tests.support.components import require

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1200)]

IMAGE = "metalab:e2e"

PROJECT = """
[project]
name = "containers"
default_env = "local"

[services.postgres]

[services.atlas]

[environments.local]
type = "local"
file_root = "./runs"
"""

EXPERIMENT = """
from collections import Counter

import metalab


@metalab.operation
def train(params, capture):
    capture.metric("loss", params["lr"] * 10)


experiment = metalab.Experiment(
    name="compose", version="1", context={}, operation=train,
    params=metalab.grid(lr=[0.1, 0.2]), seeds=metalab.seeds(base=0),
)
results = metalab.run(experiment, store="discover", verbose=False).result()
print(json.dumps(Counter(run.status.value for run in results)))
"""


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    require(docker_problem())
    build_image(IMAGE)
    stack = Stack(IMAGE)
    try:
        stack.up()
        yield stack
    finally:
        stack.destroy()


@pytest.fixture(scope="module")
def project(stack: Stack) -> Path:
    path = stack.root / "project"
    path.mkdir()
    (path / ".metalab.toml").write_text(PROJECT)
    if os.geteuid() == 0:
        os.chown(path, CONTAINER_UID, CONTAINER_UID)
    return path


def cli(stack: Stack, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, cwd=project, env=stack.client_env())


def bundle(project: Path) -> dict[str, dict[str, dict[str, object]]]:
    data: dict[str, dict[str, dict[str, object]]] = json.loads(
        (project / "runs/services/bundle.json").read_text()
    )
    return data


def atlas_get(project: Path, path: str, token: str | None) -> tuple[int, bytes]:
    atlas = bundle(project)["services"]["atlas"]
    request = urllib.request.Request(f"http://127.0.0.1:{atlas['port']}{path}")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def atlas_token(project: Path) -> str:
    ref = bundle(project)["services"]["atlas"]["secret_ref"]
    return Path(str(ref)).read_text().strip()


def experiment_counts(project: Path) -> dict[str, int]:
    """Atlas's run counts by status of the sweep ``compose:1`` (upstream's ``name:version``
    id; the overview lists it whatever Atlas accepts in a URL path)."""
    status, body = atlas_get(project, "/api/experiments", atlas_token(project))
    assert status == 200, body
    found = {e["experiment_id"]: e["counts"] for e in json.loads(body)["experiments"]}
    counts: dict[str, int] = found.get("compose:1", {})
    return counts


def service_up(stack: Stack, project: Path) -> dict[str, object]:
    up = cli(stack, project, "services", "up", "--json")
    log = project / "runs/services/run/postgres.log"
    tail = log.read_text(errors="replace")[-3000:] if up.returncode and log.exists() else ""
    assert up.returncode == 0, up.stderr + tail
    data: dict[str, object] = json.loads(up.stdout)
    status = cli(stack, project, "services", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    return data


def test_stack_shape(stack: Stack) -> None:
    """Published on 127.0.0.1 only, non-root, gRPC health answering; the token is enforced."""
    for service, port in (
        ("orchestrator", stack.server_port),
        ("registry", stack.registry_port),
        ("tunnel", stack.tunnel_port),
    ):
        published = stack.compose("port", service, "50051").stdout.strip()
        assert published == f"127.0.0.1:{port}"
        uid = stack.compose("exec", "-T", service, "id", "-u").stdout.strip()
        assert uid == str(CONTAINER_UID)
        health = run_cli("server", "health", published, cwd=stack.root)
        assert health.returncode == 0 and health.stdout.strip() == "SERVING", health.stderr
    lines = stack.compose("ps", "--format", "json").stdout.splitlines()
    ps = [json.loads(line) for line in lines if line.strip()]
    assert len(ps) == 3 and {item["Health"] for item in ps} == {"healthy"}
    for item in ps:
        for publisher in item.get("Publishers") or []:
            if publisher.get("PublishedPort"):
                assert publisher["URL"] == "127.0.0.1"


def test_wrong_token_is_refused(stack: Stack, project: Path) -> None:
    env = {**stack.client_env(), "METALAB_TOKEN": "not-the-token"}
    status = run_cli("services", "status", cwd=project, env=env)
    assert status.returncode == 1
    assert "invalid bearer token" in status.stderr and stack.token not in status.stderr


def test_local_lifecycle_through_the_containers(stack: Stack, project: Path) -> None:
    up = service_up(stack, project)
    assert not up["reused"]
    low, high = stack.service_ports
    handles = bundle(project)["services"]
    assert {name: low <= int(str(h["port"])) <= high for name, h in handles.items()} == {
        "postgres": True,
        "atlas": True,
    }
    found = cli(stack, project, "discover")
    assert found.returncode == 0 and found.stdout.startswith("postgresql://metalab@127.0.0.1:")

    # Atlas answers on the published port, and only with its token.
    assert atlas_get(project, "/api/health", None)[0] == 401
    status, body = atlas_get(project, "/api/health", atlas_token(project))
    assert status == 200 and json.loads(body)["store_readable"] is True

    # A run written from the host through store="discover" lands in the containers' Postgres.
    script = project / "experiment.py"
    script.write_text("import json\n" + EXPERIMENT)
    ran = subprocess.run(
        [sys.executable, str(script)], cwd=project, capture_output=True, text=True, timeout=120
    )
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.splitlines()[-1]) == {"success": 2}
    runs = experiment_counts(project)
    assert runs == {"success": 2}

    # The orchestrator's container restarts: its processes are gone, status says so, and the
    # next `up` cleans the stale bundle and starts over on the same data.
    stack.compose("restart", "orchestrator")
    stack.up()
    after_restart = cli(stack, project, "services", "status")
    assert after_restart.returncode == 1 and "process is gone" in after_restart.stdout
    again = service_up(stack, project)
    assert not again["reused"]
    assert experiment_counts(project) == runs
    assert service_up(stack, project)["reused"]

    # `compose down` / `up`: the shared root keeps the bundle, the cluster and the runs.
    stack.compose("down", "--timeout", "10")
    stack.up()
    assert cli(stack, project, "services", "status").returncode == 1
    service_up(stack, project)
    assert experiment_counts(project) == runs

    logs = cli(stack, project, "services", "logs", "postgres", "-n", "5")
    assert logs.returncode == 0 and logs.stdout

    down = cli(stack, project, "services", "down")
    assert down.returncode == 0 and down.stdout == "Services stopped (local).\n", down.stderr
    gone = cli(stack, project, "services", "status")
    assert gone.returncode == 1 and gone.stdout.startswith("No services running")
    assert not (project / "runs/services/bundle.json").exists()


def test_file_root_outside_the_shared_root_is_a_clear_error(stack: Stack, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / ".metalab.toml").write_text(PROJECT)
    up = run_cli("services", "up", cwd=outside, env=stack.client_env())
    assert up.returncode == 2
    assert f"is outside {stack.root}" in up.stderr and len(up.stderr.strip().splitlines()) == 1


def test_port_outside_the_published_range_is_a_clear_error(stack: Stack) -> None:
    path = stack.root / "fixed-port"
    path.mkdir()
    config = PROJECT.replace('name = "containers"', 'name = "fixed-port"')
    (path / ".metalab.toml").write_text(
        config.replace("[services.atlas]", "[services.atlas]\nport = 8000")
    )
    if os.geteuid() == 0:
        os.chown(path, CONTAINER_UID, CONTAINER_UID)
    up = run_cli("services", "up", "-q", cwd=path, env=stack.client_env())
    assert up.returncode == 2, up.stderr
    assert up.stderr.startswith("metalab: error: services.atlas.port: port 8000 is outside")
    assert cli(stack, path, "services", "status").returncode == 1
