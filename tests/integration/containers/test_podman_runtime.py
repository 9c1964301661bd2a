"""`runtime = "podman"` on a real Podman engine — a private `podman system service` (its own
storage and socket) as root and as a rootless account: up, status, a query, down, a kill -9 of
`up`, a runtime switch that keeps the data, and a rootless run whose files stay the user's."""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.helpers import METALAB
from tests.integration.containers import podman_engine as pe
from tests.integration.containers.runtime_helpers import LABEL, make, query, set_runtime
from tests.integration.index_catch_up import catches_up
from tests.integration.local_services import as_root_env, bundle_of, cli
from tests.support.components import postgres_missing, require

pytestmark = [pytest.mark.docker, pytest.mark.timeout(300)]


@pytest.fixture(scope="module")
def podman(images: None) -> Iterator[pe.Engine]:
    """Root's private engine."""
    require(pe.podman_missing())
    yield from pe.running(pwd.getpwuid(os.geteuid()).pw_name)


@pytest.fixture(scope="module")
def rootless(images: None) -> Iterator[pe.Engine]:
    """A rootless account's private engine."""
    require(pe.podman_missing())
    engine = pe.start(pe.ensure_rootless_user())
    try:
        require(pe.keep_id_problem(engine))
        yield engine
    finally:
        pe.stop(engine)


def ours(engine: pe.Engine, project: Path) -> list[Any]:
    where = str(project.resolve() / "runs" / "services")
    found: list[Any] = docker.DockerClient(base_url=engine.url).containers.list(
        all=True, filters={"label": f"{LABEL}.services-dir={where}"}
    )
    return found


def pcli(engine: pe.Engine, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(project, *args, env={"CONTAINER_HOST": engine.url})


@pytest.fixture
def project(open_tmp: Path, podman: pe.Engine) -> Iterator[Path]:
    path = make(open_tmp, "podded", runtime="podman")
    yield path
    pcli(podman, path, "services", "down", "-q")
    for container in ours(podman, path):
        container.remove(force=True)


def test_podman_lifecycle(project: Path, podman: pe.Engine) -> None:
    up = pcli(podman, project, "services", "up")
    assert up.returncode == 0, up.stderr
    assert "runtime podman (configured; podman engine at" in up.stderr
    assert "vfs" not in up.stderr  # the test engine stores with overlay
    assert bundle_of(project)["runtime"] == "podman"
    containers = {c.labels[f"{LABEL}.service"]: c for c in ours(podman, project)}
    assert set(containers) == {"postgres", "atlas"}
    assert all(c.status == "running" for c in containers.values())
    bindings = containers["postgres"].attrs["HostConfig"]["PortBindings"]["5432/tcp"]
    assert [b["HostIp"] for b in bindings] == ["127.0.0.1"]
    status = pcli(podman, project, "services", "status")
    assert status.returncode == 0, status.stdout
    assert "✓ postgres" in status.stdout and "✓ atlas" in status.stdout
    query(project, "CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
    assert query(project, "SELECT x FROM t") == [(7,)]
    owner = pwd.getpwnam("metalab").pw_uid if os.geteuid() == 0 else os.geteuid()
    data = project / "runs/services/postgres/data"
    assert {p.stat().st_uid for p in [data, *data.rglob("*")]} == {owner}

    down = pcli(podman, project, "services", "down")
    assert down.returncode == 0, down.stderr
    assert ours(podman, project) == []
    assert (
        "database system is shut down" in (project / "runs/services/run/postgres.log").read_text()
    )


def test_kill_9_of_up_converges(project: Path, podman: pe.Engine) -> None:
    process = subprocess.Popen(
        [METALAB, "services", "up"],
        cwd=project,
        env={**os.environ, **as_root_env(), "CONTAINER_HOST": podman.url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not ours(podman, project) and time.monotonic() < deadline:
        time.sleep(0.01)  # killed right after the first container exists
    process.send_signal(signal.SIGKILL)
    process.wait()
    up = pcli(podman, project, "services", "up")
    assert up.returncode == 0, up.stderr
    containers = ours(podman, project)
    assert sorted(c.labels[f"{LABEL}.service"] for c in containers) == ["atlas", "postgres"]
    assert pcli(podman, project, "services", "status").returncode == 0


@pytest.mark.parametrize("serving", [False, True], ids=["container-created", "server-running"])
def test_native_up_after_a_killed_podman_up_converges(
    project: Path, podman: pe.Engine, serving: bool
) -> None:
    """kill -9 of a Podman `up` as soon as its first container exists, or once its PostgreSQL
    runs on the data, then a native `up`: the leftover containers are removed, one PostgreSQL
    (native) serves the same data."""
    require(postgres_missing())
    assert pcli(podman, project, "services", "up").returncode == 0
    query(project, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)")
    assert pcli(podman, project, "services", "down").returncode == 0
    process = subprocess.Popen(
        [METALAB, "services", "up"],
        cwd=project,
        env={**os.environ, **as_root_env(), "CONTAINER_HOST": podman.url},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    pid_file = project / "runs/services/postgres/data/postmaster.pid"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # killed once its server holds the data directory
        found = ours(podman, project)
        if found and not serving:
            break
        if any(c.status == "running" for c in found) and pid_file.exists():
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert ours(podman, project)

    set_runtime(project, "native")
    up = pcli(podman, project, "services", "up")
    assert up.returncode == 0, up.stderr
    bundle = bundle_of(project)
    assert bundle["runtime"] == "native" and ours(podman, project) == []
    postgres = bundle["services"]["postgres"]  # type: ignore[index]
    assert int(pid_file.read_text().split()[0]) == postgres["pid"]  # the native server's
    assert query(project, "SELECT x FROM kept") == [(1,)]
    assert pcli(podman, project, "services", "status").returncode == 0


def test_up_catches_the_index_up(project: Path, podman: pe.Engine) -> None:
    """Runs written while Podman's PostgreSQL was down reach the index after `up`."""
    catches_up(functools.partial(pcli, podman), project)


def test_switching_runtime_keeps_the_data(project: Path, podman: pe.Engine) -> None:
    require(postgres_missing())
    assert pcli(podman, project, "services", "up").returncode == 0
    query(project, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (1)")
    for value, runtime in ((2, "native"), (3, "docker"), (4, "podman")):
        set_runtime(project, runtime)
        up = pcli(podman, project, "services", "up")
        assert up.returncode == 0, up.stderr
        assert bundle_of(project)["runtime"] == runtime
        assert (ours(podman, project) == []) == (runtime != "podman")
        query(project, f"INSERT INTO kept VALUES ({value})")
    assert query(project, "SELECT x FROM kept ORDER BY x") == [(1,), (2,), (3,), (4,)]
    set_runtime(project, "docker")
    assert pcli(podman, project, "services", "down").returncode == 0  # docker's containers too
    set_runtime(project, "podman")


def test_rootless_podman_keeps_every_file_the_users(open_tmp: Path, rootless: pe.Engine) -> None:
    account = pwd.getpwnam(rootless.user)
    base = open_tmp / "rootless"
    base.mkdir()
    os.chown(base, account.pw_uid, account.pw_gid)
    project = make(base, "rootless", runtime="podman")
    for path in (project, project / ".metalab.toml"):
        os.chown(path, account.pw_uid, account.pw_gid)
    env = rootless.env() | {"PYTHONPATH": os.environ.get("PYTHONPATH", "")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        argv = pe.as_user(rootless.user, env, [METALAB, *args])
        return subprocess.run(argv, cwd=project, capture_output=True, text=True, timeout=180)

    try:
        up = run("services", "up")
        assert up.returncode == 0, up.stderr
        assert len(ours(rootless, project)) == 2
        status = run("services", "status")
        assert status.returncode == 0, status.stdout
        query(project, "CREATE TABLE mine (x int); INSERT INTO mine VALUES (5)")
        assert query(project, "SELECT x FROM mine") == [(5,)]
        foreign = [p for p in project.rglob("*") if p.stat().st_uid != account.pw_uid]
        assert foreign == []  # no subordinate uid owns anything in the project
        down = run("services", "down")
        assert down.returncode == 0, down.stderr
        assert ours(rootless, project) == []
        if postgres_missing() is None:  # the same data under native binaries, as the user
            set_runtime(project, "native")
            native = run("services", "up")
            assert native.returncode == 0, native.stderr
            assert query(project, "SELECT x FROM mine") == [(5,)]
            assert run("services", "down").returncode == 0
    finally:
        run("services", "down", "-q")
    removed = subprocess.run(pe.as_user(rootless.user, {}, ["rm", "-rf", str(project)]))
    assert removed.returncode == 0 and not project.exists()  # the user can delete it all


def test_vfs_storage_is_one_warning(open_tmp: Path, podman: pe.Engine) -> None:
    """An engine on `vfs` (here an empty store: the `up` then fails on the missing image, after
    the warning) gets one line saying so."""
    engine = pe.start(pwd.getpwuid(os.geteuid()).pw_name, name="vfs", driver="vfs", images=())
    project = make(open_tmp, "vfsed", runtime="podman")
    try:
        up = pcli(engine, project, "services", "up")
        assert up.returncode != 0 and "not found on the engine" in up.stderr
        warnings = [line for line in up.stderr.splitlines() if "vfs storage driver" in line]
        assert len(warnings) == 1, up.stderr
        assert engine.url in warnings[0] and "overlay" in warnings[0]
        assert "Traceback" not in up.stderr
    finally:
        pcli(engine, project, "services", "down", "-q")
        pe.stop(engine)


def test_crun_on_a_hybrid_cgroup_host_is_one_line(open_tmp: Path, podman: pe.Engine) -> None:
    """Podman's default OCI runtime, crun, refuses hosts with hybrid cgroup v1/v2: an engine
    configured with it (on the module engine's storage and images) fails the start in one
    line saying to use runc, and leaves no container."""
    if not pe.hybrid_cgroups() or shutil.which("crun") is None:
        pytest.skip("crun runs on this host (cgroup v2 only, or no crun)")
    me = pwd.getpwuid(os.geteuid()).pw_name
    engine = pe.start(me, name="crun", oci_runtime="crun", store=podman.home, images=())
    project = make(open_tmp, "crunned", runtime="podman")
    try:
        up = pcli(engine, project, "services", "up")
        assert up.returncode != 0
        assert "Traceback" not in up.stderr
        error = [line for line in up.stderr.splitlines() if line.startswith("metalab: error:")]
        assert len(error) == 1 and 'set runtime = "runc"' in error[0], up.stderr
        assert "(crun: cgroups in hybrid mode not supported" in error[0]
        assert "containers.conf" in error[0] and engine.url in error[0]
        assert ours(engine, project) == []
    finally:
        pcli(engine, project, "services", "down", "-q")
        for container in ours(engine, project):
            container.remove(force=True)
        pe.stop(engine)
