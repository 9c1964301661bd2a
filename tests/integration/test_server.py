"""A real `metalab server` subprocess: auth, health, reflection, SIGTERM, and CLI parity."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from metalab.v1 import registry_pb2_grpc, types_pb2
from tests.helpers import METALAB
from tests.support.ports import free_port

TOKEN = "s3cret-token-for-tests"


def start_server(
    address: str, token: str | None, services: str = "registry"
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "METALAB_TOKEN"}
    if token:
        env["METALAB_TOKEN"] = token
    process = subprocess.Popen(
        [METALAB, "server", "--services", services, "--listen", address],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    banner = process.stderr.readline()
    assert "metalab server:" in banner, banner
    return process


@pytest.fixture
def socket_path(tmp_path: Path) -> str:
    return f"unix:{tmp_path}/metalab.sock"


@pytest.fixture
def tcp_address() -> str:
    return f"127.0.0.1:{free_port()}"


@pytest.fixture
def token_server(tcp_address: str) -> Iterator[str]:
    """On loopback TCP, where every caller needs the token (on a Unix socket this account
    needs none: tests/security/test_auth.py)."""
    process = start_server(tcp_address, TOKEN)
    yield tcp_address
    process.terminate()
    process.wait(10)


async def _get_bundle(address: str, metadata: tuple[tuple[str, str], ...]) -> grpc.StatusCode:
    async with grpc.aio.insecure_channel(address) as channel:
        stub = registry_pb2_grpc.RegistryStub(channel)
        key = types_pb2.BundleKey(project="p", environment="e")
        try:
            await stub.GetBundle(key, timeout=5, metadata=metadata)
        except grpc.aio.AioRpcError as exc:
            return exc.code()
    return grpc.StatusCode.OK


def test_calls_without_token_are_unauthenticated(token_server: str) -> None:
    assert asyncio.run(_get_bundle(token_server, ())) == grpc.StatusCode.UNAUTHENTICATED
    wrong = (("authorization", "Bearer nope"),)
    assert asyncio.run(_get_bundle(token_server, wrong)) == grpc.StatusCode.UNAUTHENTICATED
    right = (("authorization", f"Bearer {TOKEN}"),)
    assert asyncio.run(_get_bundle(token_server, right)) == grpc.StatusCode.NOT_FOUND


async def _health_and_reflection(address: str) -> tuple[int, list[str]]:
    async with grpc.aio.insecure_channel(address) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        response = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        metadata = (("authorization", f"Bearer {TOKEN}"),)
        names: list[str] = []
        async for reply in stub.ServerReflectionInfo(iter([request]), metadata=metadata):
            names = [s.name for s in reply.list_services_response.service]
        return response.status, names


def test_health_serving_without_token_and_reflection(token_server: str) -> None:
    status, names = asyncio.run(_health_and_reflection(token_server))
    assert status == health_pb2.HealthCheckResponse.SERVING
    assert "metalab.v1.Registry" in names and "grpc.health.v1.Health" in names


def test_server_without_token_accepts_calls(socket_path: str) -> None:
    process = start_server(socket_path, None)
    try:
        assert asyncio.run(_get_bundle(socket_path, ())) == grpc.StatusCode.NOT_FOUND
    finally:
        process.terminate()
        process.wait(10)


def test_sigterm_shuts_down_within_two_seconds(socket_path: str) -> None:
    process = start_server(socket_path, None, "registry,orchestrator,tunnel")
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=2.0) == 0
    assert time.monotonic() - started < 2.0


def test_non_loopback_without_token_is_refused() -> None:
    env = {k: v for k, v in os.environ.items() if k != "METALAB_TOKEN"}
    result = subprocess.run(
        [METALAB, "server", "--listen", "0.0.0.0:0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "refusing to listen on non-loopback address 0.0.0.0:0 without a token" in result.stderr
    assert result.stderr.count("\n") == 1


def test_second_server_on_same_socket_is_refused(socket_path: str) -> None:
    first = start_server(socket_path, None)
    try:
        result = subprocess.run(
            [METALAB, "server", "--listen", socket_path],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 2
        assert "already listening" in result.stderr
    finally:
        first.terminate()
        first.wait(10)


def test_cli_embedded_and_remote_give_identical_output(tmp_path: Path, socket_path: str) -> None:
    """File-only project (Atlas alone): up, status, down through both paths."""
    project = tmp_path / "proj"
    project.mkdir()
    (project / ".metalab.toml").write_text(
        '[project]\nname = "parity"\n[environments.local]\ntype = "local"\nfile_root = "./runs"\n'
    )
    transcripts = []
    process = start_server(socket_path, TOKEN, "registry,orchestrator,tunnel")
    try:
        for env in ({}, {"METALAB_SERVER": socket_path, "METALAB_TOKEN": TOKEN}):
            full = {**os.environ, **env}
            outputs = []
            for args in (
                ["services", "up", "-q"],
                ["services", "status"],
                ["discover"],
                ["services", "down", "-q"],
                ["services", "status"],
            ):
                result = subprocess.run(
                    [METALAB, *args],
                    cwd=project,
                    env=full,
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                outputs.append((result.returncode, _mask_ports(result.stdout)))
            transcripts.append(outputs)
    finally:
        process.terminate()
        process.wait(10)
    assert transcripts[0] == transcripts[1]
    assert transcripts[0][0][0] == 0
    assert "atlas: http://127.0.0.1:PORT/?token=TOKEN" in transcripts[0][0][1]
    assert transcripts[0][-1][0] == 1


def _mask_ports(text: str) -> str:
    import re

    return re.sub(r"token=[\w%-]+", "token=TOKEN", re.sub(r":\d{2,5}\b", ":PORT", text))


def test_python_is_this_venv() -> None:
    assert Path(METALAB).parent == Path(sys.executable).parent


def test_health_command_needs_no_token(token_server: str, tmp_path: Path) -> None:
    def health(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [METALAB, "server", "health", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30)

    ok = health(token_server)
    assert ok.returncode == 0 and ok.stdout == "SERVING\n"
    as_json = json.loads(health(token_server, "--json").stdout)
    assert as_json == {"address": token_server, "service": "", "status": "SERVING"}
    assert health(token_server, "--service", "metalab.v1.Registry").returncode == 0
    unknown = health(token_server, "--service", "metalab.v1.Nope")
    assert unknown.returncode == 1 and "NOT_FOUND" in unknown.stderr
    nobody = health(f"unix:{tmp_path}/nobody.sock", "--timeout", "1")
    assert nobody.returncode == 1
    assert nobody.stderr.startswith("metalab: error:") and nobody.stderr.count("\n") == 1


def test_token_file_serves_server_and_client(tmp_path: Path, tcp_address: str) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB_TOKEN")}
    process = subprocess.Popen(
        [METALAB, "server", "--services", "registry", "--listen", tcp_address],
        env={**env, "METALAB_TOKEN_FILE": str(token_file)},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert "(token required)" in process.stderr.readline()
        bearer = (("authorization", f"Bearer {TOKEN}"),)
        assert asyncio.run(_get_bundle(tcp_address, bearer)) == grpc.StatusCode.NOT_FOUND
        assert asyncio.run(_get_bundle(tcp_address, ())) == grpc.StatusCode.UNAUTHENTICATED
    finally:
        process.terminate()
        process.wait(10)


def test_bad_network_setting_stops_the_orchestrator_at_once(socket_path: str) -> None:
    env = {**os.environ, "METALAB_PORT_RANGE": "9-5"}
    argv = [METALAB, "server", "--services", "orchestrator", "--listen", socket_path]
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr == (
        "metalab: error: METALAB_PORT_RANGE: '9-5' is not LOW-HIGH with "
        "1024 <= LOW <= HIGH <= 65535\n"
    )
