"""A throwaway OpenSSH server on a free loopback port, for integration tests.

    with SshServer(tmp_path) as server:
        subprocess.run(server.ssh_argv("true"), check=True)

The server has its own generated ed25519 host key and accepts exactly one generated client key
for the current user (root in CI). ``known_hosts_path`` pins the host key, so clients can run
with ``StrictHostKeyChecking=yes``. Needs ``/usr/sbin/sshd`` and ``ssh-keygen``.
"""

from __future__ import annotations

import getpass
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from tests.support.ports import LOOPBACK, free_port

SSHD = Path("/usr/sbin/sshd")  # sshd re-execs itself, so it must be started by absolute path


def keygen(path: Path, comment: str) -> None:
    """Write a passphrase-less ed25519 key pair to ``path`` and ``path.pub``."""
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True,
        timeout=30,
    )


class SshServer:
    """sshd on ``host:port`` (loopback unless told; port chosen free at start) in the
    foreground, owned by us; its sessions get ``slurm_conf`` (default: ours) as SLURM_CONF."""

    def __init__(
        self,
        workdir: Path,
        user: str | None = None,
        *,
        host: str = LOOPBACK,
        slurm_conf: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.user = user or getpass.getuser()
        self.host = host
        self.slurm_conf = slurm_conf or os.environ.get("SLURM_CONF")
        self.port = 0
        self.host_key_path = workdir / "ssh_host_ed25519_key"
        self.client_key_path = workdir / "id_ed25519"
        self.known_hosts_path = workdir / "known_hosts"
        self.authorized_keys_path = workdir / "authorized_keys"
        self.config_path = workdir / "sshd_config"
        self.log_path = workdir / "sshd.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def host_key(self) -> str:
        """The server's public host key line (``ssh-ed25519 AAAA... comment``)."""
        return self.host_key_path.with_suffix(".pub").read_text().strip()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0, attempts: int = 3) -> SshServer:
        if self.running:
            return self
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not self.host_key_path.exists():
            keygen(self.host_key_path, "metalab-test-host")
        if not self.client_key_path.exists():
            keygen(self.client_key_path, "metalab-test-client")
        self.authorized_keys_path.write_text(self.client_key_path.with_suffix(".pub").read_text())
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation dir
        for _ in range(attempts):  # another process may grab the free port before sshd binds it
            self.port = free_port(self.host)
            self.config_path.write_text(self._config())
            self._proc = subprocess.Popen(
                [str(SSHD), "-D", "-f", str(self.config_path), "-E", str(self.log_path)],
                stdin=subprocess.DEVNULL,
            )
            if self._wait_for_banner(timeout):
                self.known_hosts_path.write_text(f"[{self.host}]:{self.port} {self.host_key}\n")
                return self
            self.stop()
        log = self.log_path.read_text() if self.log_path.exists() else ""
        raise RuntimeError(f"sshd did not start after {attempts} attempts; log:\n{log}")

    def stop(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)

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

    def _config(self) -> str:
        # Own config file: the system's sshd_config (PAM, Include, ...) must not leak in.
        # StrictModes off: pytest's tmp dirs sit under world-writable /tmp.
        return "\n".join(
            [
                f"Port {self.port}",
                f"ListenAddress {self.host}",
                f"HostKey {self.host_key_path}",
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
                "",
            ]
        )

    def _session_env(self) -> list[str]:
        """A login node's profile points SLURM tools at its cluster: sessions get our
        ``SLURM_CONF`` (a private test cluster), not the system's /etc/slurm."""
        conf = self.slurm_conf
        return [f'SetEnv SLURM_CONF="{conf}"'] if conf else []

    def _wait_for_banner(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc is None or self._proc.poll() is not None:
                return False  # exited, e.g. port taken
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as sock:
                    if sock.recv(64).startswith(b"SSH-"):
                        return True
            except OSError:
                time.sleep(0.05)
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
