"""A throwaway OpenSSH server for integration tests, on loopback or inside a network namespace.

    with SshServer(tmp_path) as server:
        subprocess.run(server.ssh_argv("true"), check=True)

The server has its own generated ed25519 host key and accepts a generated client key for the
current user (root in CI), or the ``authorized_keys`` it is given. ``known_hosts_path`` pins the
host key, so clients can run with ``StrictHostKeyChecking=yes``. With ``netns`` it runs under
``ip netns exec`` (root only; see tests/support/netns.py). ``stop()`` kills sshd and its
per-connection children at once (a crash, not a clean stop); ``start()`` again reuses the port.
Needs ``/usr/sbin/sshd`` and ``ssh-keygen``.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tests.support.ports import LOOPBACK, free_port

SSHD = Path("/usr/sbin/sshd")  # sshd re-execs itself, so it must be started by absolute path
NETNS_PORT = 2222  # inside a private namespace no other process competes for the port


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public_line: str  # "ssh-ed25519 AAAA..." (no comment)


def keygen(path: Path, comment: str = "metalab-test") -> KeyPair:
    """Write a fresh passphrase-less ed25519 key pair to ``path`` and ``path.pub``."""
    path.unlink(missing_ok=True)
    path.with_name(path.name + ".pub").unlink(missing_ok=True)
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        timeout=30,
    )
    public = path.with_name(path.name + ".pub").read_text().split()
    return KeyPair(path, " ".join(public[:2]))


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == pid:
            child = int(entry.name)
            found += [child, *_children(child)]
    return found


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` and every descendant (sshd forks one child per connection)."""
    for victim in [*_children(pid), pid]:
        try:
            os.kill(victim, signal.SIGKILL)
        except ProcessLookupError:
            pass


class SshServer:
    """sshd on ``host:port`` in the foreground, owned by us; its sessions get ``slurm_conf``
    (default: ours) as SLURM_CONF. Port 0 picks a free one at the first start."""

    def __init__(
        self,
        workdir: Path,
        user: str | None = None,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        slurm_conf: str | None = None,
        authorized_keys: Sequence[str] | None = None,
        host_key: KeyPair | None = None,
        netns: str | None = None,
        extra_config: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.user = user or getpass.getuser()
        self.host = host
        self.port = port or (NETNS_PORT if netns else 0)
        self.slurm_conf = slurm_conf or os.environ.get("SLURM_CONF")
        self.authorized_keys = authorized_keys
        self.host_key = host_key
        self.netns = netns
        self.extra_config = tuple(extra_config)
        self.client_key_path = workdir / "id_ed25519"
        self.known_hosts_path = workdir / "known_hosts"
        self.authorized_keys_path = workdir / "authorized_keys"
        self.config_path = workdir / "sshd_config"
        self.log_path = workdir / "sshd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def known_hosts_line(self) -> str:
        """The ``known_hosts`` line that pins this server's host key."""
        assert self.host_key is not None, "start() first"
        pattern = self.host if self.port == 22 else f"[{self.host}]:{self.port}"
        return f"{pattern} {self.host_key.public_line}\n"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0, attempts: int = 3) -> SshServer:
        if self.running:
            return self
        self._prepare()
        choose_port = self.port == 0
        for _ in range(attempts if choose_port else 1):
            if choose_port:  # another process may grab the free port before sshd binds it
                self.port = free_port(self.host)
            self.config_path.write_text(self._config())
            self.log_path.write_text("")
            argv = [str(SSHD), "-D", "-f", str(self.config_path), "-E", str(self.log_path)]
            if self.netns:
                argv = ["ip", "netns", "exec", self.netns, *argv]
            self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
            if self._wait_listening(timeout):
                self.known_hosts_path.write_text(self.known_hosts_line)
                return self
            self.stop()
        log = self.log_path.read_text()[-2000:]
        raise RuntimeError(f"sshd did not start on {self.host}:{self.port}; log:\n{log}")

    def stop(self) -> None:
        """Kill sshd and its per-connection children at once."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        kill_tree(proc.pid)
        proc.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    def ssh_argv(self, *command: str, known_hosts: Path | None = None) -> list[str]:
        """``ssh`` argv that logs in with the client key and checks the pinned host key."""
        known_hosts = known_hosts or self.known_hosts_path
        return [
            "ssh",
            "-F", "/dev/null",
            "-i", str(self.client_key_path),
            "-p", str(self.port),
            "-o", "IdentitiesOnly=yes",
            "-o", "BatchMode=yes",
            "-o", "StrictHostKeyChecking=yes",
            "-o", f"UserKnownHostsFile={known_hosts}",
            "-o", "ConnectTimeout=10",
            f"{self.user}@{self.host}",
            *command,
        ]  # fmt: skip

    def __enter__(self) -> SshServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _prepare(self) -> None:
        """Keys and authorized_keys; the client key only when no keys were given."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.host_key is None:
            self.host_key = keygen(self.workdir / "ssh_host_ed25519_key", "metalab-test-host")
        keys = self.authorized_keys
        if keys is None:
            if not self.client_key_path.exists():
                keygen(self.client_key_path, "metalab-test-client")
            keys = [self.client_key_path.with_name("id_ed25519.pub").read_text().strip()]
        self.authorized_keys_path.write_text("".join(key + "\n" for key in keys))
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir

    def _config(self) -> str:
        # Own config file: the system's sshd_config (PAM, Include, ...) must not leak in.
        # StrictModes off: pytest's tmp dirs sit under world-writable /tmp.
        assert self.host_key is not None
        return "\n".join(
            [
                f"Port {self.port}",
                f"ListenAddress {self.host}",
                f"HostKey {self.host_key.private}",
                f"PidFile {self.workdir / 'sshd.pid'}",
                f"AuthorizedKeysFile {self.authorized_keys_path}",
                f"AllowUsers {self.user}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",
                "UsePAM no",
                "StrictModes no",
                "AllowTcpForwarding yes",
                "MaxStartups 100",
                "MaxSessions 100",
                "Subsystem sftp internal-sftp",
                "LogLevel VERBOSE",
                *self._session_env(),
                *self.extra_config,
                "",
            ]
        )

    def _session_env(self) -> list[str]:
        """A login node's profile points SLURM tools at its cluster: sessions get our
        ``SLURM_CONF`` (a private test cluster), not the system's /etc/slurm."""
        conf = self.slurm_conf
        return [f'SetEnv SLURM_CONF="{conf}"'] if conf else []

    def _wait_listening(self, timeout: float) -> bool:
        """sshd logs "Server listening" once bound; it may run where we cannot connect."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False  # exited, e.g. port taken
            if "Server listening" in self.log_path.read_text():
                return True
            time.sleep(0.02)
        return False


def sshd_missing() -> str | None:
    """Why an SshServer cannot run here, or None."""
    missing = [name for name in ("ssh", "ssh-keygen") if shutil.which(name) is None]
    if not SSHD.exists():
        missing.append(str(SSHD))
    return f"OpenSSH missing: {', '.join(missing)}" if missing else None


def ssh_home(server: SshServer, tmp_path: Path) -> Path:
    """A HOME whose ``~/.ssh/config`` reaches ``server`` as host ``gw`` with the client key."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "config").write_text(
        "Host gw\n"
        f"  HostName {server.host}\n"
        f"  Port {server.port}\n"
        f"  IdentityFile {server.client_key_path}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {server.known_hosts_path}\n"
        "  StrictHostKeyChecking yes\n"
    )
    return home
