"""The orchestrator's port to a registry deployed apart: its own gRPC calls, the token, and
metalab errors (not gRPC ones) when the registry refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from metalab.core.errors import AuthError
from metalab_orchestrator.registry_port import RemoteRegistry, registry_port
from metalab_registry.store import BundleKey
from metalab_server.server import start_server

TOKEN = "registry-port-token"


@pytest.mark.asyncio
async def test_remote_registry_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    running = await start_server(["registry"], f"unix:{tmp_path}/registry.sock", TOKEN)
    key = BundleKey("p", "e", str(tmp_path))
    bundle = {"project": "p", "environment": "e", "file_root": str(tmp_path), "nonce": "n1"}
    try:
        monkeypatch.setenv("METALAB_REGISTRY_ADDRESS", running.address)
        monkeypatch.setenv("METALAB_TOKEN", TOKEN)
        port = registry_port()
        assert isinstance(port, RemoteRegistry)
        assert await port.get(key) is None
        await port.put(key, bundle)
        stored = await port.get(key)
        assert stored is not None and stored["nonce"] == "n1"
        assert (tmp_path / "services" / "bundle.json").exists()
        with pytest.raises(AuthError):
            await RemoteRegistry(running.address, "wrong").get(key)
        assert await port.delete(key) is True
        assert await port.delete(key) is False
    finally:
        await running.stop(0)
