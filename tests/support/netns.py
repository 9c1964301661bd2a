"""Network namespaces for tests: ``ip netns`` helpers and a jump topology (root only).

Namespaces are deleted by ``delete()``; ``sweep_stale_topologies`` removes those of killed runs.
Servers run inside with ``SshServer(..., netns=name)`` (tests/support/sshd.py).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


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
