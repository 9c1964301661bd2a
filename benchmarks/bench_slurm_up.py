"""How long `services up --env slurm` takes on the idle test clusters, and what `status` costs.

    python benchmarks/bench_slurm_up.py [--rounds 5] [--cluster single|multi|both]

The single-node cluster is the suite's (scripts/infra/slurm-env.sh: ``$SLURM_CONF``, else its
default path); the multi-node one is scripts/infra/multinode-slurm.sh's (started, and stopped
afterwards, when it is not up), where the services land on a compute node in another network
namespace. Reports, per cluster, in one run (timings are noisy here: compare the ratios, not
absolute numbers):
- the queue's own latency: `sbatch --wrap 'touch FILE'` until FILE exists (a trivial job);
- `Lifecycle.up` until ready (Postgres + Atlas in one job, in-process: no CLI start-up),
  and its overhead over the trivial job (target: at most 3 s);
- `status` (one squeue and the real probes, through the other namespace on the multi-node
  cluster) and `down` (scancel until squeue no longer lists the job), timed;
- squeue calls per `status` and per warm `up` (reuse), counted by wrapping the runner
  (target: 1).
Needs PostgreSQL binaries and (as root) the account `metalab`; the multi-node cluster needs root.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from metalab.core.schema import SlurmEnvironment
from metalab_orchestrator.backends.slurm.backend import SlurmBackend
from metalab_orchestrator.backends.slurm.poller import JobPoller
from metalab_orchestrator.backends.slurm.runner import CommandResult, CommandRunner, LocalRunner
from metalab_orchestrator.lifecycle import Lifecycle
from metalab_orchestrator.registry_port import LocalRegistry
from metalab_orchestrator.spec import Spec


class CountingRunner(LocalRunner):
    """The local runner, counting each command by program name."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    async def run(
        self,
        argv: Sequence[str],
        *,
        stdin: str | None = None,
        check: bool = True,
        timeout: float = 60.0,
    ) -> CommandResult:
        self.counts[argv[0]] = self.counts.get(argv[0], 0) + 1
        return await super().run(argv, stdin=stdin, check=check, timeout=timeout)


def trivial_job_latency(directory: Path) -> float:
    marker = directory / f"trivial-{uuid.uuid4().hex}"
    started = time.monotonic()
    subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--export=NONE",
            "--time=1",
            "-o",
            "/dev/null",
            "--wrap",
            f"touch {marker}",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    while not marker.exists():
        time.sleep(0.005)
    return time.monotonic() - started


REPO = Path(__file__).resolve().parents[1]
MULTINODE = REPO / "scripts" / "infra" / "multinode-slurm.sh"
SINGLE_CONF = Path(os.environ.get("METALAB_SLURM_DIR", "/var/lib/metalab-slurm")) / "etc/slurm.conf"
MULTI_CONF = Path(os.environ.get("METALAB_MN_DIR", "/var/lib/metalab-mnslurm")) / "etc/slurm.conf"


def make_spec(root: Path, project: str) -> Spec:
    # Jobs start with --export=NONE: a checkout on PYTHONPATH is handed to them explicitly.
    path = os.environ.get("PYTHONPATH")
    environment = SlurmEnvironment.model_validate(
        {
            "type": "slurm",
            "time": "10:00",
            "file_root": str(root),
            "start_timeout": 60,
            "setup": [f"export PYTHONPATH={shlex.quote(path)}"] if path else [],
            "services": {
                "postgres": {"run_as": "metalab" if os.geteuid() == 0 else None},
                "atlas": {},
            },
        }
    )
    return Spec(project, "slurm", root, environment)


async def quiet(phase: str, service: str = "", message: str = "", log_tail: str = "") -> None:
    return None


async def measure(rounds: int, root: Path) -> dict[str, Any]:
    runner = CountingRunner()

    @asynccontextmanager
    async def opener(_env: SlurmEnvironment) -> AsyncIterator[CommandRunner]:
        yield runner

    backend = SlurmBackend(poller=JobPoller(), opener=opener)
    lifecycle = Lifecycle(LocalRegistry(), backend)
    spec = make_spec(root, f"bench{uuid.uuid4().hex[:6]}")
    ups, statuses, downs, status_calls, reuse_calls = [], [], [], [], []
    for _ in range(rounds):
        started = time.monotonic()
        await lifecycle.up(spec, quiet)
        ups.append(time.monotonic() - started)
        await asyncio.sleep(0.3)  # past the poller's rate limit: status must query afresh
        runner.counts.clear()
        started = time.monotonic()
        _bundle, probes = await lifecycle.status(spec)
        statuses.append(time.monotonic() - started)
        assert probes and all(p.healthy for p in probes), probes
        status_calls.append(runner.counts.get("squeue", 0))
        await asyncio.sleep(0.3)
        runner.counts.clear()
        _bundle, reused = await lifecycle.up(spec, quiet)
        assert reused
        reuse_calls.append(runner.counts.get("squeue", 0))
        started = time.monotonic()
        await lifecycle.down(spec, quiet)
        downs.append(time.monotonic() - started)
    return {
        "up": ups,
        "status": statuses,
        "down": downs,
        "squeue_per_status": status_calls,
        "squeue_per_reuse": reuse_calls,
    }


def bench_cluster(conf: Path, rounds: int) -> dict[str, Any]:
    """Trivial-job latency and `up` on the cluster of ``conf`` (SLURM_CONF while it runs)."""
    os.environ["SLURM_CONF"] = str(conf)
    root = Path(tempfile.mkdtemp(prefix="metalab-bench-", dir="/tmp"))
    root.chmod(0o755)
    try:
        trivial = [trivial_job_latency(root) for _ in range(rounds)]
        results = asyncio.run(measure(rounds, root))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    up, base = statistics.median(results["up"]), statistics.median(trivial)
    return {
        "slurm_conf": str(conf),
        "trivial_job_s": [round(t, 3) for t in trivial],
        "up_to_ready_s": [round(t, 3) for t in results["up"]],
        "median_trivial_job_s": round(base, 3),
        "median_up_s": round(up, 3),
        "median_overhead_s": round(up - base, 3),
        "overhead_target_met": up - base <= 3.0,
        "median_status_s": round(statistics.median(results["status"]), 3),
        "median_down_s": round(statistics.median(results["down"]), 3),
        "squeue_per_status": results["squeue_per_status"],
        "squeue_per_warm_up": results["squeue_per_reuse"],
    }


def multinode(*command: str) -> bool:
    done = subprocess.run(["bash", str(MULTINODE), *command], capture_output=True, timeout=120)
    return done.returncode == 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--cluster", choices=("single", "multi", "both"), default="both")
    args = parser.parse_args()
    single_conf = Path(os.environ.get("SLURM_CONF") or SINGLE_CONF)
    report: dict[str, Any] = {}
    if args.cluster in ("single", "both"):
        report["single_node"] = bench_cluster(single_conf, args.rounds)
    if args.cluster in ("multi", "both"):
        started = not multinode("status")
        if started and not multinode("up"):
            raise SystemExit(f"the multi-node cluster did not come up ({MULTINODE} up)")
        try:
            report["multi_node"] = bench_cluster(MULTI_CONF, args.rounds)
        finally:
            if started:
                multinode("down")
    if len(report) == 2:
        single, multi = report["single_node"], report["multi_node"]
        report["multi_minus_single_overhead_s"] = round(
            multi["median_overhead_s"] - single["median_overhead_s"], 3
        )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
