"""The same flow when the client is not on a login node: sbatch/squeue/scancel over SSH.

A real sshd on loopback is the "gateway"; the client's ~/.ssh/config names it `gw` (host, port,
key, pinned host key), as a user's would. Probes reach the node through the gateway.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.slurm.components import require
from tests.integration.slurm.conftest import Project
from tests.integration.slurm.sshd import SshServer, sshd_missing

pytestmark = [pytest.mark.slurm, pytest.mark.sshd]


@pytest.fixture
def gateway(cluster: None, tmp_path: Path) -> Iterator[SshServer]:
    require(sshd_missing())
    with SshServer(tmp_path / "sshd") as server:
        yield server


def test_up_status_down_through_the_gateway(
    project: Project, gateway: SshServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "config").write_text(
        "Host gw\n"
        f"  HostName {gateway.host}\n"
        f"  Port {gateway.port}\n"
        f"  IdentityFile {gateway.client_key_path}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {gateway.known_hosts_path}\n"
        "  StrictHostKeyChecking yes\n"
    )
    project.env["HOME"] = str(home)
    project.configure(
        postgres={"database": "metalab"}, atlas={}, slurm={"gateway": "gw", "user": gateway.user}
    )
    done = project.cli("services", "up", "--env", "slurm")
    assert done.returncode == 0, done.stderr
    assert re.search(rf"submitted job \d+ via {gateway.user}@gw", done.stderr)
    bundle = project.bundle()
    assert bundle is not None
    job = bundle["job_id"]

    status = project.cli("services", "status", "--env", "slurm")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "✓ postgres" in status.stdout and "✓ atlas" in status.stdout
    assert f"job {job}: RUNNING" in status.stdout

    log = gateway.log_path.read_text()
    assert "Accepted publickey" in log  # it really went through sshd

    down = project.cli("services", "down", "--env", "slurm")
    assert down.returncode == 0, down.stderr
    assert project.active_jobs() == {} and project.bundle() is None


def test_unreachable_gateway_is_a_clear_error(project: Project, tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    (home / ".ssh" / "config").write_text("Host gw\n  HostName 127.0.0.1\n  Port 1\n")
    project.env["HOME"] = str(home)
    project.configure(slurm={"gateway": "gw", "user": "root"})
    done = project.cli("services", "up", "--env", "slurm")
    assert done.returncode == 1
    assert "cannot connect to root@gw" in done.stderr
    assert "Traceback" not in done.stderr
