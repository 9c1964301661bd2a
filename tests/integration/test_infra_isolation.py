"""The suite's SLURM helper leaves any other SLURM cluster on the machine alone.

A stand-in for a system cluster (its own config directory, munged key and socket, ports, state
and cluster name) is started first. Then ``scripts/infra/start-slurm.sh`` starts a suite cluster
beside it, in a temporary ``METALAB_SLURM_DIR`` on other ports. Afterwards both clusters answer
and run a job, the stand-in's daemons are the same processes as before, and its files, the
machine's ``/etc/slurm`` and ``/etc/munge`` and the running test cluster's config are
byte-identical.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.components import TEST_SLURM_CONF, require

INFRA = Path(__file__).resolve().parents[2] / "scripts" / "infra"
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo")

pytestmark = pytest.mark.slurm


def helper_missing() -> str | None:
    if os.geteuid() != 0:
        return "scripts/infra/start-slurm.sh runs as root"
    for name in DAEMONS:
        if shutil.which(name) is None:
            return f"SLURM missing: no {name} (scripts/infra/install-packages.sh)"
    return None


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports that were free a moment ago."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            first: int = probe.getsockname()[1]
        if first + count > 65535:
            continue
        try:
            for port in range(first, first + count):
                with socket.socket() as sock:
                    sock.bind(("0.0.0.0", port))
        except OSError:
            continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports")


def digests(*roots: Path) -> dict[str, str]:
    """sha256 of every file under ``roots`` (missing roots contribute nothing)."""
    found: dict[str, str] = {}
    for root in roots:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for path in files:
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


def slurm(conf: Path, *argv: str, timeout: float = 60) -> str:
    done = subprocess.run(
        argv,
        env={**os.environ, "SLURM_CONF": str(conf)},
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd="/",
    )
    assert done.returncode == 0, f"{argv} ({conf}) -> {done.returncode}: {done.stderr}"
    return done.stdout


def cluster_name(conf: Path) -> str:
    for line in slurm(conf, "scontrol", "show", "config").splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ClusterName":
            return value.strip()
    raise AssertionError(f"no ClusterName in scontrol show config ({conf})")


def answers_and_runs_a_job(conf: Path) -> None:
    assert "is UP" in slurm(conf, "scontrol", "ping")
    slurm(conf, "sbatch", "--wait", "--output=/dev/null", "--chdir=/", "--wrap", "true")


class StandIn:
    """A single-node cluster of its own under ``root``: munged, slurmctld and slurmd, all ours."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.conf = root / "etc" / "slurm.conf"
        self.procs: list[subprocess.Popen[bytes]] = []

    def write(self, port: int) -> None:
        for sub in ("etc", "munge", "state", "spool", "run", "log"):
            (self.root / sub).mkdir(parents=True)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        (self.root / "etc" / "plugstack.conf").write_text("")
        host, r = socket.gethostname(), self.root
        self.conf.write_text(
            "\n".join(
                [
                    "ClusterName=standin",
                    f"SlurmctldHost={host}(127.0.0.1)",
                    f"SlurmctldPort={port}",
                    f"SlurmdPort={port + 1}",
                    "SlurmUser=root",
                    "AuthType=auth/munge",
                    "CredType=cred/munge",
                    f"AuthInfo=socket={r}/munge/munge.socket",
                    f"PlugStackConfig={r}/etc/plugstack.conf",
                    "ProctrackType=proctrack/linuxproc",
                    "TaskPlugin=task/none",
                    "SelectType=select/cons_tres",
                    "SelectTypeParameters=CR_CPU",
                    "AccountingStorageType=accounting_storage/none",
                    "JobAcctGatherType=jobacct_gather/none",
                    "MpiDefault=none",
                    "MailProg=/bin/true",
                    "ReturnToService=2",
                    "SchedulerParameters=batch_sched_delay=0",
                    f"StateSaveLocation={r}/state",
                    f"SlurmdSpoolDir={r}/spool",
                    f"SlurmctldPidFile={r}/run/slurmctld.pid",
                    f"SlurmdPidFile={r}/run/slurmd.pid",
                    f"SlurmctldLogFile={r}/log/slurmctld.log",
                    f"SlurmdLogFile={r}/log/slurmd.log",
                    f"NodeName={host} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1}"
                    " RealMemory=1000",
                    f"PartitionName=standin Nodes={host} Default=YES MaxTime=INFINITE State=UP",
                    "",
                ]
            )
        )

    def start(self, timeout: float = 60) -> None:
        m = self.root / "munge"
        self._spawn(
            "munged", "-F", "--force", f"--socket={m}/munge.socket", f"--key-file={m}/munge.key",
            f"--pid-file={m}/munged.pid", f"--seed-file={m}/munged.seed",
            f"--log-file={self.root}/log/munged.log",
        )  # fmt: skip
        self._wait(timeout, lambda: (m / "munge.socket").exists())
        self._spawn("slurmctld", "-D", "-f", str(self.conf))
        self._wait(timeout, lambda: self._ok("scontrol", "ping"))
        self._spawn("slurmd", "-D", "-f", str(self.conf))
        self._wait(timeout, lambda: self._sinfo_state() == "idle")

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs if proc.poll() is None]

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)

    def _spawn(self, *argv: str) -> None:
        log = (self.root / "log" / f"{argv[0]}.out").open("ab")
        with log:
            proc = subprocess.Popen(
                argv,
                env={**os.environ, "SLURM_CONF": str(self.conf)},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd="/",
            )
        self.procs.append(proc)

    def _ok(self, *argv: str) -> bool:
        env = {**os.environ, "SLURM_CONF": str(self.conf)}
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=15)
        return done.returncode == 0 and "UP" in done.stdout

    def _sinfo_state(self) -> str:
        env = {**os.environ, "SLURM_CONF": str(self.conf)}
        argv = ["sinfo", "-h", "-o", "%T"]
        return subprocess.run(argv, env=env, capture_output=True, text=True).stdout.strip()

    def _wait(self, timeout: float, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [p.args for p in self.procs if p.poll() is not None]
            logs = "".join(p.read_text() for p in sorted((self.root / "log").glob("*")))
            assert not dead, f"stand-in daemon exited: {dead}\n{logs}"
            assert time.monotonic() < deadline, f"stand-in cluster not ready\n{logs}"
            time.sleep(0.2)


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A short path (munged's socket path must fit a sockaddr_un) that we remove afterwards."""
    path = Path(tempfile.mkdtemp(prefix="ml-iso-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_suite_slurm_helper_leaves_another_cluster_untouched(scratch: Path) -> None:
    require(helper_missing())
    standin = StandIn(scratch / "system")
    standin.write(free_ports(2))
    try:
        standin.start()
        answers_and_runs_a_job(standin.conf)
        watched = (standin.root / "etc", standin.root / "munge" / "munge.key")
        others = (Path("/etc/slurm"), Path("/etc/munge"), TEST_SLURM_CONF.parent)
        before, others_before, pids = digests(*watched), digests(*others), standin.pids()

        suite_env = {
            **os.environ,
            "METALAB_SLURM_DIR": str(scratch / "suite"),
            "METALAB_SLURM_PORT": str(free_ports(2)),
        }
        try:
            started = subprocess.run(
                ["bash", str(INFRA / "start-slurm.sh")],
                env=suite_env,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert started.returncode == 0, started.stderr
            suite_conf = scratch / "suite" / "etc" / "slurm.conf"
            assert f"export SLURM_CONF={suite_conf}" in started.stderr

            answers_and_runs_a_job(suite_conf)
            answers_and_runs_a_job(standin.conf)
            assert cluster_name(standin.conf) == "standin"
            assert cluster_name(suite_conf) == "metalabtest"
            assert standin.pids() == pids  # the same daemons: never restarted
            assert digests(*watched) == before
            assert digests(*others) == others_before
        finally:
            stop = ["bash", str(INFRA / "stop-slurm.sh")]
            subprocess.run(stop, env=suite_env, capture_output=True, timeout=120, check=False)
        answers_and_runs_a_job(standin.conf)  # stopping the suite's cluster spares it too
        assert standin.pids() == pids and digests(*watched) == before
    finally:
        standin.stop()
