"""A real OpenSSH server for tunnel tests: keys, config, start/kill/restart, network namespaces.

Typed and reusable, local to the tunnel tests. Every process started here is tracked by pid and
killed (with its forked per-connection children) by ``stop()``; namespaces are deleted by
``Netns.delete()``. Root is needed for namespaces only.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import asyncssh

from tests.support.ports import free_port

SSHD = "/usr/sbin/sshd"


def sshd_available() -> bool:
    return Path(SSHD).is_file() and shutil.which("ssh") is not None


@dataclass(frozen=True)
class KeyPair:
    private: Path
    public_line: str  # "ssh-ed25519 AAAA..."


def make_key(path: Path) -> KeyPair:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(path))
    os.chmod(path, 0o600)
    public = key.export_public_key("openssh").decode().split()
    (path.parent / (path.name + ".pub")).write_text(" ".join(public[:2]) + "\n")
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


@dataclass
class Sshd:
    """One sshd in the foreground (``-D``), optionally inside a network namespace."""

    workdir: Path
    authorized_keys: Sequence[str]
    listen: str = "127.0.0.1"
    port: int = 0
    netns: str | None = None
    host_key: KeyPair | None = None
    extra_config: Sequence[str] = ()
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.port == 0:
            self.port = free_port(self.listen) if self.netns is None else 2222
        if self.host_key is None:
            self.host_key = make_key(self.workdir / "ssh_host_ed25519_key")
        (self.workdir / "authorized_keys").write_text(
            "".join(k + "\n" for k in self.authorized_keys)
        )

    @property
    def known_hosts_line(self) -> str:
        assert self.host_key is not None
        pattern = self.listen if self.port == 22 else f"[{self.listen}]:{self.port}"
        return f"{pattern} {self.host_key.public_line}\n"

    def _config(self) -> Path:
        assert self.host_key is not None
        lines = [
            f"Port {self.port}",
            f"ListenAddress {self.listen}",
            f"HostKey {self.host_key.private}",
            f"PidFile {self.workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {self.workdir / 'authorized_keys'}",
            "PermitRootLogin prohibit-password",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes no",
            "AllowTcpForwarding yes",
            "LogLevel VERBOSE",
            *self.extra_config,
        ]
        path = self.workdir / "sshd_config"
        path.write_text("\n".join(lines) + "\n")
        return path

    @property
    def log(self) -> Path:
        return self.workdir / "sshd.log"

    def start(self, timeout: float = 10.0) -> None:
        Path("/run/sshd").mkdir(parents=True, exist_ok=True)
        self.log.write_text("")
        argv = [SSHD, "-D", "-f", str(self._config()), "-E", str(self.log)]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        self.process = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while "Server listening" not in self.log.read_text():
            if self.process.poll() is not None:
                raise RuntimeError(f"sshd exited: {self.log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"sshd did not listen within {timeout}s")
            time.sleep(0.02)

    def stop(self) -> None:
        """Kill sshd and its per-connection children at once (a crash, not a clean stop)."""
        if self.process is None:
            return
        kill_tree(self.process.pid)
        self.process.wait()
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class Netns:
    """``ip netns`` helpers; names are unique per test run."""

    name: str

    def run(self, *argv: str) -> None:
        subprocess.run(["ip", "-n", self.name, *argv], check=True)

    def popen(self, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
        return subprocess.Popen(["ip", "netns", "exec", self.name, *argv], **kwargs)  # type: ignore[call-overload, no-any-return]

    def delete(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)


@dataclass
class JumpTopology:
    """root ─veth─ gateway netns ─veth─ node netns. Root has no route to the node."""

    gateway: Netns
    node: Netns
    gateway_addr: str = "10.213.1.2"
    node_addr: str = "10.213.2.2"
    node_subnet = "10.213.2.0/30"

    @classmethod
    def create(cls, tag: str) -> JumpTopology:
        """A fresh topology named after *tag* (this run's pid); leftovers of dead runs go first."""
        sweep_stale_topologies()
        topo = cls(Netns(f"mlt{tag}gw"), Netns(f"mlt{tag}nd"))
        root_end, gw_end, gw_node_end, node_end = (f"mlt{tag}{s}" for s in ("r", "g", "h", "n"))
        sh = ["ip"]
        try:
            for ns in (topo.gateway, topo.node):
                subprocess.run([*sh, "netns", "add", ns.name], check=True)
                ns.run("link", "set", "lo", "up")
            subprocess.run(
                [*sh, "link", "add", root_end, "type", "veth", "peer", "name", gw_end,
                 "netns", topo.gateway.name], check=True,
            )  # fmt: skip
            subprocess.run([*sh, "addr", "add", "10.213.1.1/30", "dev", root_end], check=True)
            subprocess.run([*sh, "link", "set", root_end, "up"], check=True)
            topo.gateway.run("addr", "add", f"{topo.gateway_addr}/30", "dev", gw_end)
            topo.gateway.run("link", "set", gw_end, "up")
            topo.gateway.run(
                "link", "add", gw_node_end, "type", "veth", "peer", "name", node_end,
                "netns", topo.node.name,
            )  # fmt: skip
            topo.gateway.run("addr", "add", "10.213.2.1/30", "dev", gw_node_end)
            topo.gateway.run("link", "set", gw_node_end, "up")
            topo.node.run("addr", "add", f"{topo.node_addr}/30", "dev", node_end)
            topo.node.run("link", "set", node_end, "up")
            # From here the node's subnet is unreachable (never routed out of this machine).
            subprocess.run([*sh, "route", "replace", "unreachable", cls.node_subnet], check=True)
        except subprocess.CalledProcessError:
            topo.delete()
            raise
        return topo

    def delete(self) -> None:
        # Deleting a namespace destroys the veth ends inside it, and so their peers.
        self.node.delete()
        self.gateway.delete()
        subprocess.run(["ip", "route", "del", "unreachable", self.node_subnet], check=False,
                       capture_output=True)  # fmt: skip


STALE_NETNS = re.compile(r"^mlt(\d+)(gw|nd)$")


def sweep_stale_topologies() -> None:
    """Remove the namespaces (and what runs in them) of test runs that were killed.

    A run killed mid-test leaves its gateway's sshd and veth holding the gateway address, so
    later runs would reach that old gateway ("host key CHANGED").
    """
    listing = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listing.splitlines():
        match = STALE_NETNS.match(line.split(" ")[0])
        if match is None or Path(f"/proc/{match.group(1)}").exists():
            continue
        name = match.group(0)
        pids = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True)
        for pid in pids.stdout.split():
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        Netns(name).delete()
