"""Authenticated by default on every transport, against a real second local account.

The owner's `metalab server` on a Unix socket admits only the owner's account (no token: the
socket's 0700 directory keeps every other account out) and, on a shared socket when asked,
every other account that can reach it only with the token, by the peer's uid; on
loopback TCP it requires a token it generates into a 0600 file the owner's CLI finds by
itself; the Atlas that `services up` starts requires its token on loopback too, and the
browser's ``?token=`` becomes a cookie.
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.helpers import METALAB, run_cli
from tests.security.processes import account_argv

pytestmark = pytest.mark.timeout(120)

FILE_ONLY = '[project]\nname = "auth"\n[environments.local]\ntype = "local"\nfile_root = "./runs"\n'

# A gRPC call as another account: prints the status code name (OK when the call got through).
CALL = """
import sys, grpc
from metalab.v1 import registry_pb2_grpc, types_pb2
with grpc.insecure_channel(sys.argv[1], options=[("grpc.enable_http_proxy", 0)]) as channel:
    stub = registry_pb2_grpc.RegistryStub(channel)
    try:
        stub.GetBundle(types_pb2.BundleKey(project="p", environment="e"), timeout=5)
        print("OK")
    except grpc.RpcError as exc:
        print(exc.code().name, exc.details())
"""

# The same call with the token read from the file named by argv[2] (never the token on argv).
TOKEN_CALL = """
import sys, grpc
from metalab.v1 import registry_pb2_grpc, types_pb2
token = open(sys.argv[2]).read().strip()
with grpc.insecure_channel(sys.argv[1], options=[("grpc.enable_http_proxy", 0)]) as channel:
    stub = registry_pb2_grpc.RegistryStub(channel)
    try:
        stub.GetBundle(types_pb2.BundleKey(project="p", environment="e"), timeout=5,
                       metadata=(("authorization", f"Bearer {token}"),))
        print("OK")
    except grpc.RpcError as exc:
        print(exc.code().name, exc.details())
"""

# An HTTP GET as another account: prints the status code, or the error.
GET = """
import sys, urllib.request, urllib.error
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as response:
        print(response.status)
except urllib.error.HTTPError as exc:
    print(exc.code)
"""

# Reading a file as another account: prints "read" or the error's name.
READ = """
import sys
try:
    open(sys.argv[1]).read()
    print("read")
except OSError as exc:
    print(type(exc).__name__)
"""


def as_account(user: str, script: str, *args: str) -> str:
    """Run ``script`` with this venv's Python as ``user``; its output, stripped."""
    result = subprocess.run(
        account_argv(user, [sys.executable, "-c", script, *args]),
        env={"PYTHONPATH": os.environ.get("PYTHONPATH", ""), "HOME": "/", "PATH": "/usr/bin"},
        cwd="/",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class Server:
    """A real `metalab server` of the owner (this account), with its own ``METALAB_HOME``."""

    def __init__(self, home: Path, *listen: str, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.env = {**_clean_env(), "METALAB_HOME": str(home), **(env or {})}
        self.process = subprocess.Popen(
            [METALAB, "server", "--services", "registry,orchestrator,tunnel", *listen],
            env=self.env,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stderr is not None
        self.banner = self.process.stderr.readline()
        assert "metalab server:" in self.banner, self.banner
        self.address = self.banner.split(" on ", 1)[1].split(" (", 1)[0]

    def stop(self) -> str:
        """SIGTERM; the rest of its stderr."""
        self.process.send_signal(signal.SIGTERM)
        _, rest = self.process.communicate(timeout=15)
        return rest


def _clean_env() -> dict[str, str]:
    drop = ("METALAB_TOKEN", "METALAB_TOKEN_FILE", "METALAB_SERVER")
    return {k: v for k, v in os.environ.items() if k not in drop}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir(mode=0o700)
    return path


@pytest.fixture
def tcp_server(home: Path) -> Iterator[Server]:
    server = Server(home, "--listen", "127.0.0.1:0")
    yield server
    if server.process.poll() is None:
        server.stop()


def test_loopback_tcp_needs_a_token_the_owner_cli_finds_by_itself(
    tcp_server: Server, open_tmp: Path, intruder: str
) -> None:
    token_file = tcp_server.home / "run" / f"server-{tcp_server.address.replace(':', '-')}.token"
    info = token_file.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600 and info.st_uid == os.geteuid()
    assert stat.S_IMODE((tcp_server.home / "run").stat().st_mode) == 0o700
    token = token_file.read_text().strip()
    assert len(token) >= 40
    # Never on a command line or in the banner.
    cmdline = Path(f"/proc/{tcp_server.process.pid}/cmdline").read_bytes()
    assert token.encode() not in cmdline and token not in tcp_server.banner
    assert str(token_file) in tcp_server.banner

    # The other account: no token → UNAUTHENTICATED; the token file is not readable to it.
    assert as_account(intruder, CALL, tcp_server.address).startswith("UNAUTHENTICATED")
    assert as_account(intruder, READ, str(token_file)) == "PermissionError"

    # The owner's CLI: only METALAB_SERVER, no token configured, and it works.
    project = open_tmp / "proj"
    project.mkdir()
    (project / ".metalab.toml").write_text(FILE_ONLY)
    env = {**tcp_server.env, "METALAB_SERVER": tcp_server.address}
    status = run_cli("services", "status", cwd=project, env=env)
    assert "No services running for auth (local)." in status.stdout, status.stderr
    as_json = run_cli("services", "status", "--json", cwd=project, env=env)
    assert as_json.stdout and token not in as_json.stdout + as_json.stderr

    # A wrong token is refused with one line that does not echo it.
    wrong = run_cli("services", "status", cwd=project, env={**env, "METALAB_TOKEN": "nope"})
    assert wrong.returncode == 1 and "invalid bearer token" in wrong.stderr

    rest = tcp_server.stop()
    assert token not in rest
    assert not token_file.exists()  # removed when the server stops


def test_unix_socket_admits_only_the_owner(home: Path, open_tmp: Path, intruder: str) -> None:
    server = Server(home)  # the default: ~/.metalab/run/server.sock, direct, no relay
    try:
        path = Path(server.address.removeprefix("unix:"))
        assert path == home / "run" / "server.sock"
        # The kernel keeps other accounts out: a 0600 socket in a 0700 directory of the owner.
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
        assert "(this account only)" in server.banner
        # The owner's CLI needs no token on the socket.
        project = open_tmp / "proj"
        project.mkdir()
        (project / ".metalab.toml").write_text(FILE_ONLY)
        env = {**server.env, "METALAB_SERVER": server.address}
        status = run_cli("services", "status", cwd=project, env=env)
        assert "No services running" in status.stdout, status.stderr
        # The other account cannot even connect.
        assert as_account(intruder, CALL, server.address).startswith("UNAVAILABLE")
    finally:
        server.stop()
    assert not path.exists()

    # An owner socket where everyone may enter is refused with one line, before any bind.
    shared = open_tmp / "shared"
    shared.mkdir(mode=0o777)
    shared.chmod(0o1777)
    refused = subprocess.run(
        [METALAB, "server", "--listen", f"unix:{shared}/metalab.sock"],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1, refused.stderr
    assert "must be this account's with mode 0700 (is drwxrwxrwt" in refused.stderr
    assert "--shared-socket" in refused.stderr
    assert not (shared / "metalab.sock").exists()

    # A shared socket there, and no token configured: the other account connects, and gets
    # UNAUTHENTICATED (there is no token it could give); the owner connects there too.
    server = Server(home, "--shared-socket", f"unix:{shared}/metalab.sock")
    try:
        assert stat.S_IMODE((shared / "metalab.sock").stat().st_mode) == 0o666
        assert "other accounts: no token set" in server.banner
        assert as_account(intruder, CALL, f"unix:{shared}/metalab.sock").startswith(
            "UNAUTHENTICATED"
        )
        assert as_account(intruder, CALL, server.address).startswith("UNAVAILABLE")
        with socket.socket(socket.AF_UNIX) as mine:
            mine.connect(str(shared / "metalab.sock"))  # the owner connects
    finally:
        server.stop()
    assert not (shared / "metalab.sock").exists()


def test_unix_socket_admits_another_account_with_the_token(
    home: Path, open_tmp: Path, intruder: str
) -> None:
    """SO_PEERCRED on the shared socket: the owner without a token, another account only with
    the token; the owner's socket beside it stays the owner's alone."""
    secret = home / "server.token"
    secret.write_text("relay-test-token-0123456789abcdef\n")
    secret.chmod(0o600)
    shared = open_tmp / "shared"
    shared.mkdir()
    shared.chmod(0o1777)
    given = shared / "given.token"  # what the owner hands the other account: its file only
    given.write_text(secret.read_text())
    pw = pwd.getpwnam(intruder)
    os.chown(given, pw.pw_uid, pw.pw_gid)
    given.chmod(0o600)
    wrong = shared / "wrong.token"
    wrong.write_text("not-the-token\n")
    os.chown(wrong, pw.pw_uid, pw.pw_gid)

    public = f"unix:{shared}/metalab.sock"
    server = Server(home, "--shared-socket", public, env={"METALAB_TOKEN_FILE": str(secret)})
    try:
        assert "other accounts with the token on" in server.banner
        # The other account: no token, a wrong one, the right one.
        assert as_account(intruder, CALL, public).startswith("UNAUTHENTICATED missing bearer token")
        assert as_account(intruder, TOKEN_CALL, public, str(wrong)).startswith(
            "UNAUTHENTICATED invalid bearer token"
        )
        assert as_account(intruder, TOKEN_CALL, public, str(given)).startswith(
            "NOT_FOUND"  # through: the registry answers, it has no such bundle
        )
        # The owner's socket, even with the token: the kernel refuses the other account.
        assert as_account(intruder, TOKEN_CALL, server.address, str(given)).startswith(
            "UNAVAILABLE"
        )
        # The owner's CLI, pointed at the shared socket with no token configured at all.
        project = open_tmp / "proj"
        project.mkdir()
        (project / ".metalab.toml").write_text(FILE_ONLY)
        env = {**_clean_env(), "METALAB_HOME": str(home), "METALAB_SERVER": public}
        status = run_cli("services", "status", cwd=project, env=env)
        assert "No services running for auth (local)." in status.stdout, status.stderr
        token = secret.read_text().strip()
        assert token not in server.banner
        assert token.encode() not in Path(f"/proc/{server.process.pid}/cmdline").read_bytes()
    finally:
        rest = server.stop()
    assert secret.read_text().strip() not in rest


@pytest.mark.root(reason="needs root as the calling peer")
def test_root_peer_needs_the_token_of_a_server_that_is_not_root(
    open_tmp: Path, intruder: str
) -> None:
    """uid 0 counts as the owner on the shared socket only for a server run by root."""
    if os.geteuid() != 0:
        pytest.skip("needs root as the calling peer")
    pw = pwd.getpwnam(intruder)
    theirs = open_tmp / "theirs"
    theirs.mkdir()
    os.chown(theirs, pw.pw_uid, pw.pw_gid)
    theirs.chmod(0o711)  # the socket is reachable; its directory not listable
    (theirs / "home").mkdir(mode=0o700)
    os.chown(theirs / "home", pw.pw_uid, pw.pw_gid)
    address = f"unix:{theirs}/metalab.sock"
    argv = [METALAB, "server", "--services", "registry", "--shared-socket", address]
    process = subprocess.Popen(
        account_argv(intruder, argv),
        env={
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            "PATH": "/usr/bin:/bin",
            "HOME": str(theirs / "home"),
            "METALAB_HOME": str(theirs / "home"),
        },
        cwd="/",
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        banner = process.stderr.readline()
        assert "metalab server:" in banner, banner + process.stderr.read()
        result = subprocess.run(
            [sys.executable, "-c", CALL, address], capture_output=True, text=True, timeout=60
        )
        assert result.stdout.startswith("UNAUTHENTICATED"), result.stdout + result.stderr
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)


def test_tcp_without_a_token_is_refused_by_the_server_kit() -> None:
    """The library refuses what the CLI never does: TCP, even loopback, with no token."""
    import asyncio

    from metalab.errors import ConfigError
    from metalab_server.server import start_server

    with pytest.raises(ConfigError, match="without a token"):
        asyncio.run(start_server(["registry"], "127.0.0.1:0"))


def test_atlas_on_loopback_needs_its_token_and_the_browser_keeps_a_cookie(
    open_tmp: Path, home: Path, intruder: str
) -> None:
    project = open_tmp / "proj"
    project.mkdir()
    (project / ".metalab.toml").write_text(FILE_ONLY)
    env = {**_clean_env(), "METALAB_HOME": str(home)}
    up = run_cli("services", "up", cwd=project, env=env)
    try:
        assert up.returncode == 0, up.stderr
        bundle = json.loads((project / "runs/services/bundle.json").read_text())
        atlas = bundle["services"]["atlas"]
        token_file = Path(atlas["secret_ref"])
        assert token_file == project / "runs/services/atlas/atlas.token"
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        url = f"http://127.0.0.1:{atlas['port']}"
        # `up` prints the login URL, as Jupyter does; `status` keeps the seed's line.
        assert f"  atlas: {url}/?token={token}" in up.stdout
        status = run_cli("services", "status", cwd=project, env=env)
        assert f"  ✓ atlas: 127.0.0.1:{atlas['port']} (running)" in status.stdout
        assert token not in status.stdout
        as_json = json.loads(run_cli("services", "status", "--json", cwd=project, env=env).stdout)
        (entry,) = [s for s in as_json["services"] if s["name"] == "atlas"]
        assert entry["url"] == f"{url}/?token={token}" and entry["healthy"]

        # Another account: 401 without the token, and it cannot read the token file.
        assert as_account(intruder, GET, f"{url}/api/health") == "401"
        assert as_account(intruder, GET, f"{url}/api/experiments") == "401"
        assert as_account(intruder, GET, f"{url}/?token=guess") == "401"
        assert as_account(intruder, READ, str(token_file)) == "PermissionError"

        # The browser: ?token= answers with a cookie and a URL without the token.
        with httpx.Client(base_url=url, timeout=10) as browser:
            first = browser.get(f"/?token={token}", headers={"accept": "text/html"})
            assert first.status_code == 303 and "token" not in first.headers["location"]
            assert "httponly" in first.headers["set-cookie"].lower()
            assert browser.get("/api/health").status_code == 200  # the cookie keeps the session
            assert browser.get("/api/experiments").status_code == 200
        assert httpx.get(f"{url}/api/health", timeout=10).status_code == 401  # no cookie
    finally:
        assert run_cli("services", "down", cwd=project, env=env).returncode == 0
