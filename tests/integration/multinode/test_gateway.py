"""Gateway mode from a "laptop": the CLI runs in a namespace that reaches only the login side.

The laptop (10.233.0.2) has a route to the login side's sshd (10.233.0.1) and none to the
compute nodes: sbatch/squeue/scancel go over SSH, the probes ride SSH channels to the node's
advertised address, and `up --tunnel` forwards Atlas to the laptop's own loopback.
"""

from __future__ import annotations

import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.multinode.cluster import (
    LOGIN_ADDRESS,
    Cluster,
    LaptopProject,
    configure,
    in_laptop,
)
from tests.support.components import require
from tests.support.sshd import SshServer, ssh_home, sshd_missing

pytestmark = [pytest.mark.slurm, pytest.mark.sshd]


@pytest.fixture
def login(cluster: Cluster, tmp_path: Path) -> Iterator[SshServer]:
    """sshd on the login side's laptop-facing address; its sessions use the cluster."""
    require(sshd_missing())
    server = SshServer(tmp_path / "sshd", host=LOGIN_ADDRESS, slurm_conf=str(cluster.conf))
    with server:
        yield server


def laptop_reaches(host: str, port: int) -> bool:
    probe = f"import socket; socket.create_connection(({host!r}, {port}), timeout=2).close()"
    done = subprocess.run(
        in_laptop(["python3", "-c", probe]), capture_output=True, timeout=30, check=False
    )
    return done.returncode == 0


def test_up_status_down_from_the_laptop_through_the_login_node(
    cluster: Cluster, laptop: LaptopProject, login: SshServer, tmp_path: Path
) -> None:
    laptop.env["HOME"] = str(ssh_home(login, tmp_path))
    configure(
        laptop,
        postgres={"database": "metalab"},
        atlas={},
        slurm={"gateway": "gw", "user": login.user},
    )
    done = laptop.cli("services", "up", "--env", "slurm")
    assert done.returncode == 0, done.stderr
    assert re.search(rf"submitted job \d+ via {login.user}@gw", done.stderr)
    bundle = laptop.bundle()
    assert bundle is not None
    pg = bundle["services"]["postgres"]
    assert pg["host"] == cluster.address(pg["node"])
    assert not laptop_reaches(pg["host"], int(pg["port"]))  # only through the login node
    assert laptop_reaches(LOGIN_ADDRESS, login.port)

    status = laptop.cli("services", "status", "--env", "slurm")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "✓ postgres" in status.stdout and "✓ atlas" in status.stdout
    assert f"job {bundle['job_id']}: RUNNING on {pg['node']}" in status.stdout
    assert "Accepted publickey" in login.log_path.read_text()

    down = laptop.cli("services", "down", "--env", "slurm")
    assert down.returncode == 0, down.stderr
    assert laptop.active_jobs() == {} and laptop.bundle() is None


def test_up_with_tunnel_brings_atlas_to_the_laptops_loopback(
    cluster: Cluster, laptop: LaptopProject, login: SshServer, tmp_path: Path
) -> None:
    laptop.env["HOME"] = str(ssh_home(login, tmp_path))
    configure(laptop, atlas={}, slurm={"gateway": "gw", "user": login.user, "tunnel": "gateway"})
    process = laptop.popen("services", "up", "--env", "slurm", "--tunnel", "--tunnel-port", "0")
    assert process.stdout is not None
    try:
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.startswith("Tunnel established: "):
                break
        else:
            raise AssertionError("".join(seen) + (process.stderr.read() if process.stderr else ""))
        url = seen[-1].split(": ", 1)[1].strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/\?token=\S+", url), url
        token = url.split("token=", 1)[1]
        health = url.split("/?", 1)[0] + "/api/health"
        curl = ["curl", "-s", "-m", "10", "-H", f"Authorization: Bearer {token}", health]
        answer = subprocess.run(in_laptop(curl), capture_output=True, text=True, timeout=30)
        assert '"store_readable":true' in answer.stdout.replace(" ", ""), answer
        # The host side's loopback is not the laptop's: the tunnel is where the CLI runs.
        assert subprocess.run(curl, capture_output=True, timeout=30).returncode != 0
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "Tunnel closed." in err


def test_metalab_tunnel_brings_postgres_and_atlas_to_the_laptop(
    cluster: Cluster, laptop: LaptopProject, login: SshServer, tmp_path: Path
) -> None:
    laptop.env["HOME"] = str(ssh_home(login, tmp_path))
    configure(
        laptop,
        postgres={"database": "metalab"},
        atlas={},
        slurm={"gateway": "gw", "user": login.user, "tunnel": "gateway"},
    )
    assert laptop.cli("services", "up", "--env", "slurm").returncode == 0
    bundle = laptop.bundle()
    assert bundle is not None
    pg = bundle["services"]["postgres"]
    process = laptop.popen("tunnel", "--env", "slurm", "--port", "0")
    assert process.stdout is not None
    try:
        urls: dict[str, str] = {}
        for line in process.stdout:
            if line.startswith("Tunnel established: "):
                url = line.split(": ", 1)[1].split()[0]
                urls[url.split(":", 1)[0]] = url
            if len(urls) == 2:
                break
        assert set(urls) == {"http", "postgresql"}, urls
        local_port = urls["postgresql"].rsplit(":", 1)[1]
        psql = ["psql", "-XAtw", "-h", "127.0.0.1", "-p", local_port, "-U", pg["user"]]
        query = subprocess.run(
            in_laptop([*psql, "-d", pg["database"], "-c", "SELECT 41 + 1"]),
            capture_output=True,
            text=True,
            env={**laptop.env, "PGPASSFILE": pg["passfile"]},
            timeout=30,
        )
        assert query.stdout.strip() == "42", query.stderr
        token = urls["http"].split("token=", 1)[1]
        health = urls["http"].split("/?", 1)[0] + "/api/health"
        curl = ["curl", "-s", "-m", "10", "-H", f"Authorization: Bearer {token}", health]
        answer = subprocess.run(in_laptop(curl), capture_output=True, text=True, timeout=30)
        assert '"status"' in answer.stdout, answer
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=30)
    finally:
        process.kill()
    assert process.returncode == 0, err
