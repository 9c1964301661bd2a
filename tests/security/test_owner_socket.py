"""The owner's direct socket of `metalab server`: where it may be bound, and how the owner's
client finds it (and falls back) without ever sending the token there.

Real `metalab server` processes and real sockets; the directory of another account is the real
second account's (`metalab-intruder`).
"""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from metalab._client.owner_socket import locator_path
from metalab._client.target import ServerTarget, resolve_target
from metalab.errors import ConfigError
from metalab_server.address import owner_only_dir
from tests.helpers import METALAB
from tests.security.test_auth import Server

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


def refusal(address: str, env: dict[str, str]) -> str:
    """`metalab server --listen address`'s stderr; it must exit 2 with one line."""
    result = subprocess.run(
        [METALAB, "server", "--services", "registry", "--listen", address],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def test_the_owner_socket_directory_must_be_ours_private_and_no_symlink(
    home: Path, open_tmp: Path, intruder: str
) -> None:
    env = {**os.environ, "METALAB_HOME": str(home)}
    open_dir = open_tmp / "open"
    open_dir.mkdir()
    open_dir.chmod(0o755)
    assert "(is drwxr-xr-x, uid" in refusal(f"unix:{open_dir}/s.sock", env)

    theirs = open_tmp / "theirs"
    theirs.mkdir(mode=0o700)
    pw = pwd.getpwnam(intruder)
    os.chown(theirs, pw.pw_uid, pw.pw_gid)
    assert f"uid {pw.pw_uid})" in refusal(f"unix:{theirs}/s.sock", env)

    mine = open_tmp / "mine"
    mine.mkdir(mode=0o700)
    link = open_tmp / "link"
    link.symlink_to(mine)
    assert "is not a directory of this account" in refusal(f"unix:{link}/s.sock", env)
    for directory in (open_dir, theirs, mine):
        assert list(directory.iterdir()) == []  # nothing bound, not even a lock file

    # A missing directory is created 0700; the bind goes through the checked directory.
    fd, bind_address = owner_only_dir(f"unix:{open_tmp}/fresh/s.sock")
    try:
        assert (open_tmp / "fresh").stat().st_mode & 0o777 == 0o700
        assert bind_address == f"unix:/proc/self/fd/{fd}/s.sock"
        assert os.path.samefile(f"/proc/self/fd/{fd}", open_tmp / "fresh")
    finally:
        os.close(fd)


@pytest.fixture
def shared_server(home: Path, open_tmp: Path) -> Iterator[tuple[Server, str]]:
    shared = open_tmp / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    public = f"unix:{shared}/metalab.sock"
    owner = f"unix:{home}/sockets/owner.sock"  # a directory the server creates 0700
    server = Server(home, "--listen", owner, "--shared-socket", public)
    yield server, public
    if server.process.poll() is None:
        server.stop()


def test_the_owner_client_prefers_the_owner_socket_without_the_token(
    shared_server: tuple[Server, str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, public = shared_server
    monkeypatch.setenv("METALAB_HOME", str(home))
    monkeypatch.setenv("METALAB_TOKEN", "a-token-the-owner-socket-must-not-see")
    locators = [locator_path(public), locator_path(server.address)]
    for locator in locators:
        assert locator.stat().st_mode & 0o777 == 0o600
        assert locator.read_text() == f"{server.address}\n"
    for configured in (public, server.address):
        monkeypatch.setenv("METALAB_SERVER", configured)
        assert resolve_target() == ServerTarget(server.address, None)

    # The owner socket's directory opened to others: not used, back to the shared socket.
    owner_dir = Path(server.address.removeprefix("unix:")).parent
    assert owner_dir == home / "sockets" and owner_dir.stat().st_mode & 0o777 == 0o700
    monkeypatch.setenv("METALAB_SERVER", public)
    owner_dir.chmod(0o755)
    try:
        assert resolve_target() == ServerTarget(public, "a-token-the-owner-socket-must-not-see")
    finally:
        owner_dir.chmod(0o700)
    assert resolve_target().token is None

    # A locator that is not a 0600 file of this account is refused with one line.
    locators[0].chmod(0o644)
    with pytest.raises(ConfigError, match="not a 0600 file of this account"):
        resolve_target()
    locators[0].chmod(0o600)

    # Stopped: the locators are gone, the configured address comes back with its token.
    server.stop()
    assert not any(locator.exists() for locator in locators)
    assert resolve_target() == ServerTarget(public, "a-token-the-owner-socket-must-not-see")


def test_a_killed_server_leaves_a_locator_the_client_does_not_follow(
    shared_server: tuple[Server, str], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server, public = shared_server
    monkeypatch.setenv("METALAB_HOME", str(home))
    monkeypatch.setenv("METALAB_SERVER", public)
    monkeypatch.setenv("METALAB_TOKEN", "t0ken")
    assert resolve_target() == ServerTarget(server.address, None)
    server.process.send_signal(signal.SIGKILL)
    server.process.wait(15)
    assert locator_path(public).exists()  # SIGKILL: nothing was cleaned up
    assert Path(server.address.removeprefix("unix:")).exists()
    assert resolve_target() == ServerTarget(public, "t0ken")  # nobody answers there


def test_a_lock_symlink_planted_beside_the_shared_socket_is_not_followed(
    home: Path, open_tmp: Path, intruder: str
) -> None:
    shared = open_tmp / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    precious = home / "precious"
    precious.write_text("the owner's\n")
    planted = shared / "metalab.sock.lock"
    planted.symlink_to(precious)
    pw = pwd.getpwnam(intruder)
    os.lchown(planted, pw.pw_uid, pw.pw_gid)
    result = subprocess.run(
        [METALAB, "server", "--services", "registry", "--shared-socket", f"unix:{planted}"[:-5]],
        env={**os.environ, "METALAB_HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert f"cannot lock {planted}" in result.stderr
    assert precious.read_text() == "the owner's\n"
    assert not (shared / "metalab.sock").exists()
