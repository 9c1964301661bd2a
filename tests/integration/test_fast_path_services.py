"""Warm `services up` and healthy `services status` answered without click, gRPC or asyncio.

The fast path (`metalab._cli.entry`) must print exactly what the click CLI prints for the same
state, and the same stdout and exit code as the orchestrator's answer over gRPC (a reuse over
gRPC also reports progress on stderr; the in-process answer never did); and it must step aside
(the orchestrator answers) whenever the state is not a healthy local bundle.
`METALAB_SHARED_ROOT=/` is a legitimate way to force the gRPC path: the shared-root check
belongs to the orchestrator, so the fast path leaves such calls to it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.fast_path import fast, grpc_path, invoke
from tests.integration.local_services import alive, bundle_of, make_project, pids

pytestmark = pytest.mark.postgres

# First-party modules a warm `up` / healthy `status` may import; growing past them fails.
SERVICES_MODULES = {
    "metalab",
    "metalab._api",  # main's lazy public API behind `import metalab` (api-run)
    "metalab.errors",
    "metalab.core",
    "metalab.core.errors",  # the exception tree `metalab.errors` re-exports
    "metalab.core.token",  # the token from METALAB_TOKEN[_FILE], shared with the services
    "metalab.core.bundle",
    "metalab.core.bundle.files",
    "metalab.core.bundle.model",  # main's validated bundle model (trust)
    "metalab._cli",
    "metalab._cli.context",
    "metalab._cli.entry",
    "metalab._cli.fast",
    "metalab._cli.fastpath",
    "metalab._cli.render",
    "metalab._client",
    "metalab._client.embedded",  # the one client module that reaches the services
    "metalab._client.target",
    "metalab._config",
    "metalab._config.layers",
    "metalab._config.layout",  # main's profile layouts, imported to build an environment
    "metalab._config.limits",  # main's config input bounds, checked on cached documents too
    "metalab._config.parsed",
    "metalab._config.trace",  # main's upstream-layout tracing (cfg-cli)
    "metalab._config.resolve",
    "metalab._config.validate",
    "metalab.core.fs",
    "metalab.core.redact",
    "metalab.workspace",  # the subpackage itself: a docstring, nothing imported
    "metalab.workspace.settings_path",
    "metalab_orchestrator",
    "metalab_orchestrator.backends",
    "metalab_orchestrator.backends.base",
    "metalab_orchestrator.index_catch_up",  # a warm `up`/`status` counts pending index writes
    "metalab_orchestrator.runtime",
    "metalab_orchestrator.runtime.health",
    "metalab_orchestrator.runtime.paths",  # after merging main: the services' paths and owners
    "metalab_orchestrator.runtime.pg_layout",  # main's PostgreSQL file names and owner (trust)
    "metalab_orchestrator.runtime.process",
    "metalab_orchestrator.pgwire",
    "metalab_orchestrator.pgscram",  # the probe's SCRAM exchange (the verifier lives beside it)
    "metalab_orchestrator.plugins",  # the probes' TCP connection (was `probes`)
    "metalab_orchestrator.plugins.atlas",  # Atlas's probe (package: its launch is apart)
    "metalab_orchestrator.plugins.postgres",  # PostgreSQL's probe (package: its launch is apart)
    "metalab_server",  # the server kit's package: `os` only (gRPC stays unimported)
    "metalab_server.pidfd",  # signals go through a pidfd, shared with the tunnel daemon
}
FORBIDDEN = (
    "click",
    "asyncio",
    "grpc",
    "pydantic",
    "psycopg",
    "yaml",
    "subprocess",
    "ssl",
    "tomllib",
    "logging",  # ~4 ms with traceback and threading: modules that log import it where they do
)


@pytest.fixture(scope="module")
def project() -> Iterator[Path]:
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="metalab-fast-", dir="/tmp"))
    root.chmod(0o755)
    path = make_project(root)
    code, _, err, _ = invoke(path, "main", ["services", "up", "-q"])
    assert code == 0, err
    yield path
    invoke(path, "main", ["services", "down", "-q"])
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize(
    "args",
    [
        ["services", "up"],
        ["services", "up", "-q"],
        ["services", "up", "--json"],
        ["services", "up", "--json", "--show-secrets", "--env", "local"],
        ["services", "up", "--set", "services.atlas.start_timeout=30"],
        ["services", "status"],
        ["services", "status", "--json"],
        ["services", "status", "--env=local"],
        ["discover"],
    ],
)
def test_fast_answer_equals_the_orchestrators(project: Path, args: list[str]) -> None:
    before = pids(bundle_of(project))
    slow = grpc_path(project, *args)  # first: a --set document validates (pydantic) and caches
    code, out, err, modules = fast(project, *args)
    assert (code, out, err) == invoke(project, "main", args)[:3]  # click, same process checks
    assert code == slow[0] == 0 and out
    if "--json" in args:  # the same document; gRPC's conversion orders a service's keys its way
        assert json.loads(out) == json.loads(slow[1])
    else:
        assert out == slow[1]
    assert err == (slow[2] if args[1:2] == ["status"] else "")
    if args[0] == "services":  # the comparison really went through the orchestrator
        assert "grpc" in {m.split(".")[0] for m in slow[3]}
    mine = {m for m in modules if m.split(".")[0] in ("metalab", "metalab_orchestrator")}
    allowed = SERVICES_MODULES | (
        {"metalab._config.discover", "metalab.core.bundle.discover"}
        if args[0] == "discover"
        else set()
    )
    assert mine <= allowed, mine - allowed
    assert not [m for m in modules if m.split(".")[0] in FORBIDDEN]
    assert pids(bundle_of(project)) == before


def test_config_errors_are_clicks(project: Path) -> None:
    for args in (["services", "up", "--env", "nope"], ["services", "status", "--set", "x"]):
        code, out, err, modules = fast(project, *args)
        assert (code, out, err) == grpc_path(project, *args)[:3]
        assert code == 2 and err.startswith("metalab: error: ") and "click" in modules


def test_another_configured_runtime_is_the_orchestrators(project: Path) -> None:
    """A native bundle is not reused once another runtime is configured: the fast path steps
    aside and the orchestrator says why (`status` starts nothing)."""
    before = pids(bundle_of(project))
    args = ["services", "status", "--set", "runtime=docker"]
    code, out, err, modules = fast(project, *args)
    assert (code, out, err) == grpc_path(project, *args)[:3]
    assert code == 1 and "runs on runtime native, but runtime = 'docker' is configured" in out
    assert "grpc" in {m.split(".")[0] for m in modules}
    assert pids(bundle_of(project)) == before


def test_unhealthy_status_is_the_orchestrators(open_tmp: Path) -> None:
    path = make_project(open_tmp)
    try:
        code, _, err, _ = invoke(path, "main", ["services", "up", "-q"])
        assert code == 0, err
        atlas = pids(bundle_of(path))["atlas"]
        os.killpg(atlas, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while alive(atlas) and time.monotonic() < deadline:
            time.sleep(0.05)
        for args in (["services", "status"], ["services", "status", "--json"]):
            code, out, err, modules = fast(path, *args)
            assert (code, out, err) == grpc_path(path, *args)[:3]
            assert code == 1 and "grpc" in {m.split(".")[0] for m in modules}
        assert "✗ atlas" in fast(path, "services", "status")[1]
    finally:
        invoke(path, "main", ["services", "down", "-q"])


def test_no_bundle_is_the_orchestrators(open_tmp: Path) -> None:
    path = make_project(open_tmp)
    code, out, err, _ = fast(path, "services", "status")
    assert (code, out, err) == grpc_path(path, "services", "status")[:3]
    assert code == 1 and out.startswith("No services running for")


def test_atlas_url_carries_its_token_on_both_paths(project: Path) -> None:
    """`up` prints Atlas's URL with its login token, `status --json` carries it, `status`
    keeps ``host:port (running)``: the same from the fast path as from click and gRPC."""
    up = fast(project, "services", "up")[1]
    assert "?token=" in up and up == grpc_path(project, "services", "up")[1]
    status = json.loads(fast(project, "services", "status", "--json")[1])
    (atlas,) = [s for s in status["services"] if s["name"] == "atlas"]
    assert "?token=" in atlas["url"]
    assert "?token=" not in fast(project, "services", "status")[1]


def test_provisioning_bundle_is_never_healthy_on_the_fast_path(project: Path) -> None:
    """Services that answer do not make a ``provisioning`` bundle healthy: the fast path
    steps aside and the orchestrator reports it (exit 1, ``healthy`` false)."""
    path = project / "runs/services/bundle.json"
    ready = path.read_bytes()
    path.write_text(json.dumps({**json.loads(ready), "state": "provisioning"}))
    try:
        for args in (["services", "status"], ["services", "status", "--json"]):
            code, out, err, modules = fast(project, *args)
            assert (code, out, err) == grpc_path(project, *args)[:3]
            assert code == 1 and "grpc" in {m.split(".")[0] for m in modules}
        code, out, _, _ = fast(project, "services", "status", "--json")
        assert json.loads(out)["healthy"] is False
    finally:
        path.write_bytes(ready)


# What the fast `down` adds to the warm path's modules (the teardown code and the registry's store).
DOWN_MODULES = SERVICES_MODULES | {
    "metalab.core.bundle.discover",
    "metalab._cli.fastdown",
    "metalab_orchestrator.runtime.containers",  # an engine that answers is searched (as root)
    "metalab_orchestrator.runtime.engines",
    "metalab_orchestrator.runtime.teardown",
    "metalab_registry",
    "metalab_registry.locking",
    "metalab_registry.store",
    "metalab_registry.writer",
}


def _progress(err: str) -> list[str]:
    """Progress lines without their elapsed time (``[ 0.1s] stopping atlas``)."""
    return [line.split("] ", 1)[1] for line in err.splitlines() if line.startswith("[")]


def test_down_fast_path_stops_what_the_orchestrator_stops(open_tmp: Path) -> None:
    """A ready native bundle is stopped without click, gRPC or asyncio: the same output as the
    orchestrator's `down`, every process gone, the bundle removed."""
    path = make_project(open_tmp)
    try:
        outputs = []
        for runner in (grpc_path, fast):
            code, _, err, _ = invoke(path, "main", ["services", "up", "-q"])
            assert code == 0, err
            before = pids(bundle_of(path))
            code, out, err, modules = runner(path, "services", "down")
            assert code == 0, err
            assert not any(alive(pid) for pid in before.values())
            assert not (path / "runs/services/bundle.json").exists()
            outputs.append((out, _progress(err), modules))
        (slow_out, slow_progress, slow_modules), (out, progress, modules) = outputs
        assert out == slow_out == "Services stopped (local).\n"
        assert progress == slow_progress
        assert progress == [
            "stopping atlas",
            "stopped atlas",
            "stopping postgres",
            "stopped postgres",
        ]
        assert "grpc" in {m.split(".")[0] for m in slow_modules}
        mine = {m for m in modules if m.split(".")[0].startswith("metalab")}
        assert mine <= DOWN_MODULES, mine - DOWN_MODULES
        searched = "metalab_orchestrator.runtime.containers" in modules  # the Docker SDK's own
        forbidden = set(FORBIDDEN) - ({"ssl", "subprocess", "logging"} if searched else set())
        assert not [m for m in modules if m.split(".")[0] in forbidden]
        assert fast(path, "services", "down")[:2] == (0, "Nothing was running (local).\n")
    finally:
        invoke(path, "main", ["services", "down", "-q"])


def test_down_of_a_record_the_checks_refuse_is_the_orchestrators(open_tmp: Path) -> None:
    """A bundle naming a process that is not Atlas (same account, own session, right start
    time) is not signalled by the fast path: it steps aside before printing or stopping
    anything, and the orchestrator reports the record it refuses."""
    path = make_project(open_tmp)
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        code, _, err, _ = invoke(path, "main", ["services", "up", "-q"])
        assert code == 0, err
        bundle_file = path / "runs/services/bundle.json"
        bundle = json.loads(bundle_file.read_text())
        start = int(Path(f"/proc/{stranger.pid}/stat").read_text().rsplit(") ", 1)[1].split()[19])
        atlas = {**bundle["services"]["atlas"], "pid": stranger.pid, "pgid": stranger.pid}
        bundle["services"]["atlas"] = {**atlas, "start_time": start}
        bundle_file.write_text(json.dumps(bundle))
        code, out, err, modules = fast(path, "services", "down")
        assert "grpc" in {m.split(".")[0] for m in modules}
        assert "info atlas: not signalled: pid" in err
        assert alive(stranger.pid)
        assert code == 0 and out == "Services stopped (local).\n"
    finally:
        stranger.kill()
        stranger.wait()
        invoke(path, "main", ["services", "down", "-q"])
