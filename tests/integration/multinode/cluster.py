"""The multi-node SLURM cluster (scripts/infra/multinode-slurm.sh) as the tests see it.

slurmctld on the host side, two slurmd "compute nodes" in network namespaces of their own
(node1 at 10.232.0.11, node2 at 10.232.0.12); a "laptop" namespace that reaches the cluster
only over SSH. The fixtures that bring it up are in conftest.py.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.slurm.project import CLI, Project

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "infra" / "multinode-slurm.sh"
MN_DIR = Path(os.environ.get("METALAB_MN_DIR", "/var/lib/metalab-mnslurm"))
NODES = ("node1", "node2")
PARTITION = "mn"
TOOLS = ("ip", "nsenter", "unshare", "munged", "slurmctld", "slurmd", "sbatch", "sinfo")


def multinode_missing() -> str | None:
    if os.geteuid() != 0:
        return "the multi-node SLURM cluster needs root (network namespaces)"
    for tool in TOOLS:
        if shutil.which(tool) is None:
            return f"no {tool} for the multi-node SLURM cluster (scripts/infra/install-packages.sh)"
    return None


@dataclass(frozen=True)
class Cluster:
    """The running cluster: its SLURM_CONF, node names and addresses, and node faults."""

    conf: Path
    nodes: tuple[str, ...]

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def address(self, node: str) -> str:
        return f"10.232.0.{10 + int(node.removeprefix('node'))}"

    def slurm(self, *argv: str, check: bool = True) -> str:
        """Run a SLURM command against this cluster; its stdout."""
        done = subprocess.run(
            argv, capture_output=True, text=True, env=self.env, timeout=60, check=False
        )
        if check and done.returncode != 0:
            raise AssertionError(f"{shlex.join(argv)}: {done.stderr.strip()}")
        return done.stdout

    def node_state(self, node: str) -> str:
        return self.slurm("sinfo", "-h", "-p", PARTITION, "-n", node, "-o", "%T").strip()

    def script(self, *args: str) -> None:
        done = subprocess.run(
            ["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr

    def fail(self, node: str) -> None:
        """The node dies: marked DOWN, and everything running in it killed (SIGKILL)."""
        self.script("fail", node.removeprefix("node"))

    def restore(self, node: str) -> None:
        self.script("restore", node.removeprefix("node"))


def configure(
    project: Project,
    *,
    postgres: dict[str, Any] | None = None,
    atlas: dict[str, Any] | None = None,
    slurm: dict[str, Any] | None = None,
    local: str = "",
) -> None:
    """``Project.configure`` with the multi-node cluster's partition."""
    environment = {"partition": PARTITION, **(slurm or {})}
    project.configure(postgres=postgres, atlas=atlas, slurm=environment, local=local)


LAPTOP_NS = Path("/run/netns/mlmn-laptop")
LOGIN_ADDRESS = "10.233.0.1"  # the host side as the laptop sees it


def in_laptop(argv: list[str]) -> list[str]:
    """``argv`` run in the laptop's network namespace (its own loopback, a route to the
    login side's 10.233.0.1 and nothing else)."""
    return ["nsenter", f"--net={LAPTOP_NS}", *argv]


@dataclass
class LaptopProject(Project):
    """A project whose CLI runs on the "laptop": it reaches the cluster only over SSH."""

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            in_laptop([CLI, *args]),
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            in_laptop([CLI, *args]),
            cwd=self.dir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
