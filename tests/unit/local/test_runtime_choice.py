"""Which runtime a local environment gets, the identity of its containers, and the config key."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from metalab.errors import ProvisioningFailed
from metalab_orchestrator.runtime.containers import Owner, is_ours
from metalab_orchestrator.runtime.engines import engine_url
from metalab_orchestrator.runtime.health import runtime_switch
from metalab_orchestrator.runtime.runtime_choice import choose_runtime
from tests.unit.cli_helpers import invoke

NO_ENGINES = {
    "DOCKER_HOST": "unix:///nonexistent/docker.sock",
    "CONTAINER_HOST": "unix:///nonexistent/podman.sock",
}


@pytest.fixture
def fake_pg(tmp_path: Path) -> Path:
    """A directory with initdb, pg_ctl and a postgres that reports version 15."""
    bindir = tmp_path / "pgbin"
    bindir.mkdir()
    for name in ("initdb", "pg_ctl", "postgres"):
        script = bindir / name
        script.write_text("#!/bin/sh\necho 'postgres (PostgreSQL) 15.4'\n")
        script.chmod(0o755)
    return bindir


def no_native(tmp_path: Path) -> dict[str, str]:
    empty = tmp_path / "empty"
    empty.mkdir(exist_ok=True)
    return {"PATH": str(empty), "METALAB_PG_ROOT": str(empty)}


def test_auto_prefers_native_binaries(fake_pg: Path) -> None:
    choice = choose_runtime("auto", {"METALAB_PG_BIN": str(fake_pg), **NO_ENGINES})
    assert choice.runtime == "native" and not choice.in_containers
    assert choice.reason == f"auto: PostgreSQL binaries in {fake_pg}"


def test_auto_finds_binaries_under_the_versioned_root(tmp_path: Path, fake_pg: Path) -> None:
    root = tmp_path / "versions"
    (root / "15").mkdir(parents=True)
    fake_pg.rename(root / "15" / "bin")
    choice = choose_runtime("auto", {"PATH": "", "METALAB_PG_ROOT": str(root), **NO_ENGINES})
    assert choice.runtime == "native" and str(root / "15" / "bin") in choice.reason


def test_auto_without_binaries_or_engines_names_both(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningFailed) as caught:
        choose_runtime("auto", {**no_native(tmp_path), **NO_ENGINES})
    message = str(caught.value)
    assert "\n" not in message and "no PostgreSQL binaries" in message
    assert "docker at unix:///nonexistent/docker.sock: no socket" in message
    assert "podman at unix:///nonexistent/podman.sock: no socket" in message


def test_a_broken_metalab_pg_bin_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningFailed, match="METALAB_PG_BIN=/nonexistent"):
        choose_runtime("auto", {"METALAB_PG_BIN": "/nonexistent"})


@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_an_unavailable_engine_is_a_one_line_error(runtime: str) -> None:
    with pytest.raises(ProvisioningFailed) as caught:
        choose_runtime(runtime, NO_ENGINES)
    message = str(caught.value)
    assert message.startswith(f'runtime = "{runtime}" is unavailable: no {runtime} engine')
    assert "\n" not in message
    assert ("podman.socket, or podman system service --time=0 &" in message) == (
        runtime == "podman"
    )


def test_native_asked_for_but_missing(tmp_path: Path) -> None:
    with pytest.raises(ProvisioningFailed, match='runtime = "native" is unavailable'):
        choose_runtime("native", no_native(tmp_path))


def test_unknown_runtime() -> None:
    with pytest.raises(ProvisioningFailed, match="unknown runtime 'vm'"):
        choose_runtime("vm", {})


def test_engine_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    assert engine_url("docker", {}) == "unix:///var/run/docker.sock"
    assert engine_url("docker", {"DOCKER_HOST": "tcp://127.0.0.1:2375"}) == "tcp://127.0.0.1:2375"
    assert engine_url("podman", {"CONTAINER_HOST": "unix:///x.sock"}) == "unix:///x.sock"
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert engine_url("podman", {"XDG_RUNTIME_DIR": "/run/user/1000"}) == (
        "unix:///run/user/1000/podman/podman.sock"
    )
    monkeypatch.setattr("os.geteuid", lambda: 0)
    assert engine_url("podman", {}) == "unix:///run/podman/podman.sock"


def container(labels: dict[str, str], sources: list[str]) -> Any:
    mounts = [{"Type": "bind", "Source": s, "Destination": "/x"} for s in sources]
    return SimpleNamespace(labels=labels, attrs={"Mounts": mounts})


def test_containers_are_ours_only_with_our_labels_and_our_mount() -> None:
    owner = Owner("proj", "local", Path("/tmp/p/runs/services"))
    labels = owner.labels("postgres")
    data = "/tmp/p/runs/services/postgres/data"
    assert is_ours(container(labels, [data, "/tmp/p/runs/services/run"]), owner, "postgres")
    assert not is_ours(container(labels, []), owner, "postgres")  # labels alone: not trusted
    assert not is_ours(container(labels, ["/elsewhere/data"]), owner, "postgres")
    other = Owner("proj", "staging", Path("/tmp/p/runs/services"))
    assert not is_ours(container(other.labels("postgres"), [data]), owner, "postgres")
    assert not is_ours(container(labels, [data]), owner, "atlas")


def test_container_names_are_stable_and_per_services_directory() -> None:
    a = Owner("My Project", "local", Path("/a/services"))
    b = Owner("My Project", "local", Path("/b/services"))
    assert a.name("postgres") == Owner("My Project", "local", Path("/a/services")).name("postgres")
    assert a.name("postgres") != b.name("postgres") != a.name("atlas")
    assert a.name("postgres").startswith("metalab-My-Project-local-postgres-")


def test_a_bundle_is_not_reused_under_another_configured_runtime() -> None:
    assert runtime_switch("auto", {"runtime": "docker"}) == ""
    assert runtime_switch("docker", {"runtime": "docker"}) == ""
    assert runtime_switch("native", {}) == ""  # bundles before runtimes ran natively
    assert "runs on runtime docker" in runtime_switch("native", {"runtime": "docker"})


def test_runtime_key_is_validated_with_did_you_mean(tmp_path: Path) -> None:
    (tmp_path / ".metalab.toml").write_text(
        '[project]\nname = "p"\n[environments.local]\ntype = "local"\nruntme = "docker"\n'
    )
    code, _, err = invoke(["env", "list"], tmp_path)
    assert code == 2 and "environments.local.runtme: unknown key (did you mean 'runtime'?)" in err
    (tmp_path / ".metalab.toml").write_text(
        '[project]\nname = "p"\n[environments.local]\ntype = "local"\nruntime = "vm"\n'
    )
    code, _, err = invoke(["env", "list"], tmp_path)
    assert code == 2 and "environments.local.runtime:" in err and "'docker'" in err


def test_env_show_origin_says_which_runtime_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / ".metalab.toml").write_text(
        '[project]\nname = "p"\n[environments.local]\ntype = "local"\nruntime = "docker"\n'
    )
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    code, out, _ = invoke(["env", "show", "local", "--origin"], tmp_path)
    assert code == 0
    assert '  Runtime: unavailable  [runtime = "docker" is unavailable: no docker engine' in out
    assert "    runtime: docker  [profile]" in out
    code, out, _ = invoke(["env", "show", "local", "--origin", "--json"], tmp_path)
    assert '"chosen": "unavailable"' in out
