"""The registry over a real Unix socket: group-committed writes, CAS, and the read cache."""

from __future__ import annotations

import asyncio
import json
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest
import pytest_asyncio

from metalab.core.bundle.files import write_bundle
from metalab.v1 import registry_pb2, registry_pb2_grpc, types_pb2
from metalab_server.server import start_server

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def registry(tmp_path: Path) -> AsyncIterator[registry_pb2_grpc.RegistryStub]:
    running = await start_server(["registry"], f"unix:{tmp_path}/registry.sock")
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            yield registry_pb2_grpc.RegistryStub(channel)
    finally:
        await running.stop(0)


def _bundle(root: Path, nonce: str) -> types_pb2.Bundle:
    return types_pb2.Bundle(
        project="p", environment="e", file_root=str(root), store_locator=str(root), nonce=nonce
    )


def _key(root: Path) -> types_pb2.BundleKey:
    return types_pb2.BundleKey(project="p", environment="e", file_root=str(root))


async def _put(
    stub: registry_pb2_grpc.RegistryStub, bundle: types_pb2.Bundle, expected: str = ""
) -> grpc.StatusCode:
    request = registry_pb2.PutBundleRequest(bundle=bundle, expected_nonce=expected)
    try:
        await stub.PutBundle(request, timeout=10)
    except grpc.aio.AioRpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


async def test_concurrent_compare_and_swap_has_exactly_one_winner(
    registry: registry_pb2_grpc.RegistryStub, tmp_path: Path
) -> None:
    assert await _put(registry, _bundle(tmp_path, "n0")) == grpc.StatusCode.OK
    codes = await asyncio.gather(
        *(_put(registry, _bundle(tmp_path, f"n{i}"), expected="n0") for i in range(1, 33))
    )
    winners = [i + 1 for i, code in enumerate(codes) if code == grpc.StatusCode.OK]
    assert len(winners) == 1, codes
    assert set(codes) == {grpc.StatusCode.OK, grpc.StatusCode.ABORTED}
    on_disk = json.loads((tmp_path / "services" / "bundle.json").read_text())
    assert on_disk["nonce"] == f"n{winners[0]}"


async def test_concurrent_plain_puts_leave_one_whole_private_bundle(
    registry: registry_pb2_grpc.RegistryStub, tmp_path: Path
) -> None:
    codes = await asyncio.gather(*(_put(registry, _bundle(tmp_path, f"n{i}")) for i in range(40)))
    assert set(codes) == {grpc.StatusCode.OK}
    path = tmp_path / "services" / "bundle.json"
    assert json.loads(path.read_text())["nonce"] in {f"n{i}" for i in range(40)}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


async def test_get_sees_every_change_made_behind_the_servers_back(
    registry: registry_pb2_grpc.RegistryStub, tmp_path: Path
) -> None:
    path = tmp_path / "services" / "bundle.json"
    bundle = {"project": "p", "environment": "e", "file_root": str(tmp_path)}
    for i in range(60):
        write_bundle(path, {**bundle, "nonce": f"x{i:02d}"})  # same size every time
        got = await registry.GetBundle(_key(tmp_path), timeout=5)
        assert got.nonce == f"x{i:02d}"
        if i % 20 == 19:
            await asyncio.sleep(0.1)  # let the cache vouch for an old file, then change it


async def test_delete_honours_the_nonce_and_reports_what_it_did(
    registry: registry_pb2_grpc.RegistryStub, tmp_path: Path
) -> None:
    await _put(registry, _bundle(tmp_path, "n1"))
    key = _key(tmp_path)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await registry.DeleteBundle(
            registry_pb2.DeleteBundleRequest(key=key, expected_nonce="other"), timeout=5
        )
    assert refused.value.code() == grpc.StatusCode.ABORTED
    first = await registry.DeleteBundle(
        registry_pb2.DeleteBundleRequest(key=key, expected_nonce="n1"), timeout=5
    )
    second = await registry.DeleteBundle(registry_pb2.DeleteBundleRequest(key=key), timeout=5)
    assert (first.deleted, second.deleted) == (True, False)
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await registry.GetBundle(key, timeout=5)
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


async def test_corrupt_bundle_is_data_loss_not_a_crash(
    registry: registry_pb2_grpc.RegistryStub, tmp_path: Path
) -> None:
    await _put(registry, _bundle(tmp_path, "n1"))
    await registry.GetBundle(_key(tmp_path), timeout=5)
    (tmp_path / "services" / "bundle.json").write_text("{torn")
    with pytest.raises(grpc.aio.AioRpcError) as corrupt:
        await registry.GetBundle(_key(tmp_path), timeout=5)
    assert corrupt.value.code() == grpc.StatusCode.DATA_LOSS
    assert "corrupt bundle" in (corrupt.value.details() or "")
