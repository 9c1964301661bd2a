"""Healing after the gateway sshd dies, host key checks, authentication errors."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from metalab.core.ssh_options import DataPath, ForwardSpec, SshTarget
from metalab.errors import TunnelError
from metalab_tunnel.forwarder import Tunnel
from metalab_tunnel.model import EventKind, TunnelSpec
from tests.integration.tunnel.helpers import Events, HttpServer, http_get
from tests.support.sshd import KeyPair, SshServer, keygen

pytestmark = [pytest.mark.sshd, pytest.mark.asyncio]


def spec_for(
    sshd: SshServer, http: HttpServer, known_hosts: Path, data_path: DataPath, **kw: object
) -> TunnelSpec:
    kw.setdefault("ssh_key", None)
    target = SshTarget(
        gateway=f"root@127.0.0.1:{sshd.port}",
        mode="gateway",
        options=(f"UserKnownHostsFile={known_hosts}",),
        config_files=(),
        keepalive_interval=1.0,
        data_path=data_path,
        **kw,  # type: ignore[arg-type]
    )
    return TunnelSpec(target, (ForwardSpec("atlas", "127.0.0.1", http.port, 0, "http"),))


async def test_heals_after_sshd_is_killed_and_restarted(
    sshd: SshServer, client_key: KeyPair, known_hosts: Path, http_server: HttpServer,
    data_path: DataPath,
) -> None:  # fmt: skip
    events = Events()
    key = str(client_key.private)
    tunnel = Tunnel(spec_for(sshd, http_server, known_hosts, data_path, ssh_key=key), events)
    (bound,) = await tunnel.start()
    try:
        assert await http_get(bound.local_port) == http_server.body
        sshd.stop()  # SIGKILL the daemon and its per-connection child
        await events.wait_for(EventKind.RECONNECTING)
        # A client arriving during the outage is accepted and waits for the new route.
        pending = asyncio.create_task(http_get(bound.local_port, timeout=30))
        await asyncio.sleep(0.8)
        assert not pending.done()
        sshd.start()
        assert await pending == http_server.body
        restored = await events.wait_for(EventKind.RESTORED)
        assert restored.forwards[0].local_port == bound.local_port
        assert await http_get(bound.local_port) == http_server.body
        assert tunnel.state == "up"
    finally:
        await tunnel.close()
    assert events.kinds()[-1] is EventKind.CLOSED


async def test_a_changed_host_key_while_reconnecting_ends_the_tunnel(
    sshd: SshServer,
    client_key: KeyPair,
    known_hosts: Path,
    http_server: HttpServer,
    data_path: DataPath,
    tmp_path: Path,
) -> None:
    events = Events()
    key = str(client_key.private)
    tunnel = Tunnel(spec_for(sshd, http_server, known_hosts, data_path, ssh_key=key), events)
    (bound,) = await tunnel.start()
    try:
        sshd.stop()
        sshd.host_key = keygen(tmp_path / "impostor_host_key")
        sshd.start()
        failed = await events.wait_for(EventKind.FAILED)
        assert "has CHANGED" in failed.message
        assert tunnel.state == "failed"
        with pytest.raises(OSError):
            await http_get(bound.local_port, timeout=2)
    finally:
        await tunnel.close()


async def test_unknown_host_key_is_refused_then_accepted_on_opt_in(
    sshd: SshServer,
    client_key: KeyPair,
    http_server: HttpServer,
    tmp_path: Path,
    data_path: DataPath,
) -> None:
    known = tmp_path / "fresh_known_hosts"
    spec = spec_for(sshd, http_server, known, data_path, ssh_key=str(client_key.private))
    with pytest.raises(TunnelError, match="is unknown .*accept_new_host_key"):
        await Tunnel(spec).start()
    assert not known.exists()

    accepting = spec_for(sshd, http_server, known, data_path, ssh_key=str(client_key.private),
                         accept_new_host_key=True)  # fmt: skip
    tunnel = Tunnel(accepting)
    (bound,) = await tunnel.start()
    try:
        assert await http_get(bound.local_port) == http_server.body
    finally:
        await tunnel.close()
    assert known.read_text() == sshd.known_hosts_line
    assert known.stat().st_mode & 0o777 == 0o600

    # Now recorded: a server with another key on that address is a changed key, never accepted.
    sshd.stop()
    sshd.host_key = keygen(tmp_path / "other_host_key")
    sshd.start()
    with pytest.raises(TunnelError, match="has CHANGED"):
        await Tunnel(accepting).start()


async def test_key_not_authorized_is_an_auth_error_naming_no_password_support(
    sshd: SshServer, known_hosts: Path, http_server: HttpServer, tmp_path: Path, data_path: DataPath
) -> None:
    stranger = keygen(tmp_path / "id_stranger")
    spec = spec_for(sshd, http_server, known_hosts, data_path, ssh_key=str(stranger.private))
    with pytest.raises(TunnelError) as info:
        await Tunnel(spec).start()
    message = str(info.value)
    assert f"gateway root@127.0.0.1:{sshd.port}: authentication failed" in message
    assert "no passwords" in message


async def test_missing_key_file_is_named(
    sshd: SshServer, known_hosts: Path, http_server: HttpServer, tmp_path: Path, data_path: DataPath
) -> None:
    spec = spec_for(sshd, http_server, known_hosts, data_path, ssh_key=str(tmp_path / "nope"))
    with pytest.raises(TunnelError, match="nope"):
        await Tunnel(spec).start()


async def test_connection_refused_names_the_gateway(
    sshd: SshServer,
    client_key: KeyPair,
    known_hosts: Path,
    http_server: HttpServer,
    data_path: DataPath,
) -> None:
    spec = spec_for(sshd, http_server, known_hosts, data_path, ssh_key=str(client_key.private))
    sshd.stop()
    with pytest.raises(TunnelError, match=f"127.0.0.1:{sshd.port}: connection refused"):
        await Tunnel(spec).start()


@pytest.fixture
def agent(tmp_path: Path, client_key: KeyPair, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    if shutil.which("ssh-agent") is None:
        pytest.skip("ssh-agent not installed")
    sock = tmp_path / "agent.sock"
    process = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            subprocess.run(["sleep", "0.02"], check=True)
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(client_key.private)], env=env, check=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        yield str(sock)
    finally:
        process.kill()
        process.wait()


async def test_agent_key_is_used_without_ssh_key(
    sshd: SshServer, known_hosts: Path, http_server: HttpServer, agent: str, data_path: DataPath
) -> None:
    tunnel = Tunnel(spec_for(sshd, http_server, known_hosts, data_path))
    (bound,) = await tunnel.start()
    try:
        assert await http_get(bound.local_port) == http_server.body
    finally:
        await tunnel.close()


async def test_known_hosts_none_in_ssh_config_trusts_no_host_key(
    sshd: SshServer, client_key: KeyPair, http_server: HttpServer, tmp_path: Path,
    data_path: DataPath,
) -> None:  # fmt: skip
    """`UserKnownHostsFile none` must not turn host-key checking off (asyncssh would)."""
    config = tmp_path / "ssh_config"
    config.write_text(
        f"Host gwnone\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User root\n"
        "  UserKnownHostsFile none\n"
    )
    target = SshTarget(
        gateway="gwnone",
        mode="gateway",
        ssh_key=str(client_key.private),
        config_files=(str(config),),
        data_path=data_path,
    )
    spec = TunnelSpec(target, (ForwardSpec("atlas", "127.0.0.1", http_server.port, 0, "http"),))
    with pytest.raises(TunnelError, match="is unknown"):
        await Tunnel(spec).start()
