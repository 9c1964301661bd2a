"""The same flow when the client is not on a login node: sbatch/squeue/scancel over SSH.

A real sshd on loopback is the "gateway"; the client's ~/.ssh/config names it `gw` (host, port,
key, pinned host key), as a user's would. Probes reach the node through the gateway.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.slurm.project import Project
from tests.support.components import require
from tests.support.sshd import SshServer, ssh_home, sshd_missing

pytestmark = [pytest.mark.slurm, pytest.mark.sshd]


@pytest.fixture
def gateway(cluster: None, tmp_path: Path) -> Iterator[SshServer]:
    require(sshd_missing())
    with SshServer(tmp_path / "sshd") as server:
        yield server


def test_up_status_down_through_the_gateway(
    project: Project, gateway: SshServer, tmp_path: Path
) -> None:
    project.env["HOME"] = str(ssh_home(gateway, tmp_path))
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


def _tunnel_until_established(process: subprocess.Popen[str]) -> tuple[str, str]:
    """Read `services up --tunnel` output up to the Atlas line; return its URL and the output."""
    assert process.stdout is not None
    seen = []
    for line in process.stdout:
        seen.append(line)
        if line.startswith("Tunnel established: "):
            return line.split(": ", 1)[1].strip(), "".join(seen)
    raise AssertionError("".join(seen) + (process.stderr.read() if process.stderr else ""))


def test_up_with_tunnel_opens_it_when_ready_and_on_reuse(
    project: Project, gateway: SshServer, tmp_path: Path
) -> None:
    import httpx

    project.env["HOME"] = str(ssh_home(gateway, tmp_path))
    project.configure(atlas={}, slurm={"gateway": "gw", "user": gateway.user, "tunnel": "gateway"})
    try:
        for round_ in ("started", "reused"):
            process = project.popen("services", "up", "--env", "slurm", "--tunnel",
                                    "--tunnel-port", "0")  # fmt: skip
            try:
                url, printed = _tunnel_until_established(process)
                assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=\S+", url), url
                with httpx.Client(timeout=10, follow_redirects=True) as http:
                    answer = http.get(url)  # the printed URL logs the browser in
                    assert answer.status_code == 200 and "atlas_token" in http.cookies
                    health = http.get(url.split("/?", 1)[0] + "/api/health")
                    assert health.status_code == 200 and health.json()["store_readable"]
                process.send_signal(signal.SIGINT)
                out, err = process.communicate(timeout=30)
            finally:
                process.kill()
            assert process.returncode == 0, err
            assert f"Services {round_} (slurm):" in printed, printed + out
            assert "Tunnel closed." in err
    finally:
        down = project.cli("services", "down", "--env", "slurm")
    assert down.returncode == 0, down.stderr
    assert project.active_jobs() == {}


def test_tunnel_port_needs_tunnel(project: Project) -> None:
    project.configure(atlas={})
    done = project.cli("services", "up", "--env", "slurm", "--tunnel-port", "0")
    assert done.returncode == 2 and "--tunnel-port needs --tunnel" in done.stderr
