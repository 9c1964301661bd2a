"""The SLURM backend: one batch job holds the environment's services.

``start`` writes the job spec (and a configured password, 0600) to the shared filesystem,
submits the script with ``sbatch --parsable``, records the job id in the provisioning bundle at
once, and waits: queue wait and start-up have separate budgets, a pending job shows its live
SLURM reason, and the job's own endpoint file (matching nonce) means ready. Any failure or
cancellation after submission propagates to the lifecycle, which cancels the job (``stop``).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from metalab.core.bundle import Bundle
from metalab.core.errors import ConfigError, ProvisioningFailed, SchedulerError
from metalab.core.fs import write_atomic
from metalab.core.schema import SlurmEnvironment
from metalab.core.slurm.commands import parse_job_id, sbatch_argv, scancel_argv, slurm_filename
from metalab.core.slurm.squeue import JobInfo, job_ids_named_argv, unknown_job
from metalab_orchestrator.backends.base import Emit, Probe, SaveBundle
from metalab_orchestrator.plugins import tunnel_targets
from metalab_orchestrator.spec import Spec

from .endpoint import (
    AtlasJobSpec,
    Endpoint,
    JobSpec,
    PostgresJobSpec,
    endpoint_path,
    job_dir,
    read_endpoint,
)
from .health import probe_service
from .nodes import node_note
from .orphans import find_environment_jobs, name_prefix
from .poller import POLLER, JobPoller
from .runner import CommandRunner, open_runner, runs_locally
from .script import SlurmPlan, render_sbatch

RunnerOpener = Callable[[SlurmEnvironment], AbstractAsyncContextManager[CommandRunner]]

ENDPOINT_POLL = (0.05, 0.2)  # the endpoint file: cheap, read often
SQUEUE_POLL = (0.25, 5.0)  # squeue: backoff, batched by the poller
STOP_TIMEOUT = 120.0
TAIL_LINES = 30
SERVICE_ORDER = ("postgres", "atlas")


def slurm_env(spec: Spec) -> SlurmEnvironment:
    if not isinstance(spec.environment, SlurmEnvironment):
        raise ConfigError(f"environment {spec.name!r} is not of type slurm")
    return spec.environment


def job_name(spec: Spec, nonce: str) -> str:
    return name_prefix(spec) + nonce


def output_path(services_dir: str, job_id: str) -> str:
    return str(Path(job_dir(services_dir)) / f"job-{job_id}.out")


def plan_job(spec: Spec, nonce: str) -> tuple[SlurmPlan, JobSpec, str]:
    """(plan, job spec, password file or "") for a submission: pure, no I/O."""
    env = slurm_env(spec)
    services_dir = str(spec.services_dir)
    jobs = job_dir(services_dir)
    spec_file = str(Path(jobs) / f"job-{nonce}.json")
    password_file = ""
    postgres = None
    if spec.postgres is not None:
        pg = spec.postgres
        if pg.password is not None:
            password_file = str(Path(jobs) / f"postgres-{nonce}.password")
        postgres = PostgresJobSpec(
            auth_method=pg.auth_method,
            database=pg.database,
            user=pg.user,
            port=pg.port,
            run_as=pg.run_as,
            start_timeout=pg.start_timeout,
            password_file=password_file,
        )
    atlas = spec.atlas
    job = JobSpec(
        nonce=nonce,
        services_dir=services_dir,
        file_root=spec.file_root,
        bundle_path=str(spec.key.path),
        postgres=postgres,
        atlas=AtlasJobSpec(atlas.port, atlas.start_timeout) if atlas is not None else None,
        advertise=env.advertise,
    )
    python = env.python or ("python" if env.conda_env else sys.executable)
    plan = SlurmPlan(
        job_name=job_name(spec, nonce),
        output=slurm_filename(jobs) + "/job-%j.out",
        workdir=jobs,
        time=env.time,
        python=python,
        job_args=("--spec", spec_file, "--nonce", nonce),
        partition=env.partition,
        memory=env.memory,
        cpus=env.cpus,
        gpus=env.gpus,
        account=env.account,
        qos=env.qos,
        sbatch_args=tuple(env.sbatch_args),
        modules=tuple(env.modules),
        conda_env=env.conda_env,
        setup=tuple(env.setup),
    )
    return plan, job, spec_file


def _tail(data: bytes | None, lines: int = TAIL_LINES) -> str:
    if not data:
        return ""
    return "\n".join(data.decode(errors="replace").rstrip().splitlines()[-lines:])


async def _mirror_atlas_token(runner: CommandRunner, handle: dict[str, Any] | None) -> None:
    """Copy Atlas's token file (0600) to the same path here when the cluster's disk is remote.

    The CLI prints Atlas's URL with what the browser needs to log in, and it reads the token
    from ``secret_ref``: through the gateway that file is on the cluster, not on this machine.
    """
    ref = str((handle or {}).get("secret_ref") or "")
    if not ref or runner.target == "local" or Path(ref).exists():
        return
    token = await runner.read_file(ref)
    if token:
        write_atomic(Path(ref), token.strip())


class SlurmBackend:
    """Services in one batch job on a compute node, reached directly or through the gateway."""

    def __init__(self, poller: JobPoller = POLLER, opener: RunnerOpener = open_runner) -> None:
        self._poller = poller
        self._open = opener

    # -- start -----------------------------------------------------------------------------

    async def start(self, spec: Spec, bundle: Bundle, emit: Emit, save: SaveBundle) -> Bundle:
        env = slurm_env(spec)
        nonce = str(bundle["nonce"])
        plan, job, spec_file = plan_job(spec, nonce)
        script = render_sbatch(plan)
        async with self._open(env) as runner:
            unrecorded = await find_environment_jobs(runner, spec)
            if unrecorded:  # the bundle that named it was deleted: never a second job
                await emit("INFO", message=f"job {', '.join(unrecorded)} has no bundle")
                await self._cancel(runner, unrecorded, emit)
            await runner.put_file(spec_file, job.to_json())
            if job.postgres is not None and job.postgres.password_file:
                assert spec.postgres is not None and spec.postgres.password is not None
                secret = spec.postgres.password.get_secret_value().encode()
                await runner.put_file(job.postgres.password_file, secret)
            submit = sbatch_argv()
            result = await runner.run(submit, stdin=script)
            try:
                job_id = parse_job_id(result.stdout)
            except ValueError as exc:
                raise SchedulerError(submit, 0, str(exc)) from None
            bundle["job_id"] = job_id
            await save(bundle)  # from here on, any failure cancels this job
            via = "" if runner.target == "local" else f" via {runner.target}"
            await emit("SUBMITTED", message=f"submitted job {job_id}{via}")
            return await self._wait(spec, env, runner, bundle, emit, save)

    async def adopt(
        self, spec: Spec, bundle: Bundle, emit: Emit, save: SaveBundle
    ) -> Bundle | None:
        """Wait for the job of a provisioning bundle (an earlier `up` was interrupted)."""
        job_id = str(bundle.get("job_id") or "")
        if not job_id or not bundle.get("nonce"):
            return None
        env = slurm_env(spec)
        async with self._open(env) as runner:
            info = (await self._poller.jobs(runner, [job_id], fresh=True))[job_id]
            if info is None or not info.active:
                return None
            await emit("INFO", message=f"waiting for job {job_id}, submitted earlier")
            return await self._wait(spec, env, runner, bundle, emit, save)

    async def _wait(
        self,
        spec: Spec,
        env: SlurmEnvironment,
        runner: CommandRunner,
        bundle: Bundle,
        emit: Emit,
        save: SaveBundle,
    ) -> Bundle:
        loop = asyncio.get_running_loop()
        job_id, nonce = str(bundle["job_id"]), str(bundle["nonce"])
        services_dir = str(spec.services_dir)
        names = [
            n
            for n in SERVICE_ORDER
            if (n == "postgres" and spec.postgres is not None)
            or (n == "atlas" and spec.atlas is not None)
        ]
        queue_deadline = loop.time() + env.queue_timeout
        start_deadline: float | None = None
        file_delay, squeue_delay = ENDPOINT_POLL[0], SQUEUE_POLL[0]
        next_squeue, last_reason, warned = 0.0, None, False
        info: JobInfo | None = None
        while True:
            endpoint = await read_endpoint(runner, services_dir, nonce)
            if endpoint is not None:
                return await self._finish(runner, services_dir, bundle, endpoint, info, emit, save)
            now = loop.time()
            if now >= next_squeue:
                info = (await self._poller.jobs(runner, [job_id], fresh=True))[job_id]
                next_squeue = now + squeue_delay
                squeue_delay = min(squeue_delay * 1.5, SQUEUE_POLL[1])
                if info is None and not warned:
                    warned = True
                    await emit("INFO", message=f"squeue failed; job {job_id} state unknown")
                elif info is not None and not info.active:
                    if await read_endpoint(runner, services_dir, nonce) is not None:
                        continue  # it reported just before leaving
                    raise ProvisioningFailed(
                        f"job {job_id} ended ({info.state}) before its services were ready",
                        await self._output_tail(runner, services_dir, job_id),
                    )
                elif info is not None and info.waiting:
                    if start_deadline is not None:  # requeued/preempted: a new queue wait
                        start_deadline, queue_deadline = None, now + env.queue_timeout
                    if info.reason != last_reason:
                        last_reason = info.reason
                        await emit("QUEUED", message=f"queued ({info.reason or info.state})")
                elif info is not None and start_deadline is None:
                    start_deadline = now + env.start_timeout
                    if info.end_time:
                        bundle["expires_at"] = info.end_time
                    for name in names:
                        await emit("STARTING", name, f"starting {name} on {info.node}")
            if start_deadline is None and now > queue_deadline:
                raise ProvisioningFailed(
                    f"job {job_id} still queued after {env.queue_timeout:g}s "
                    f"(reason: {last_reason or 'unknown'}); queue_timeout"
                )
            if start_deadline is not None and now > start_deadline:
                raise ProvisioningFailed(
                    f"job {job_id}: services not ready {env.start_timeout:g}s after the job "
                    "started (start_timeout)",
                    await self._output_tail(runner, services_dir, job_id),
                )
            await asyncio.sleep(file_delay)
            file_delay = min(file_delay * 1.5, ENDPOINT_POLL[1])

    async def _finish(
        self,
        runner: CommandRunner,
        services_dir: str,
        bundle: Bundle,
        endpoint: Endpoint,
        info: JobInfo | None,
        emit: Emit,
        save: SaveBundle,
    ) -> Bundle:
        job_id = str(bundle["job_id"])
        if endpoint.state in ("failed", "stopped"):
            tail = endpoint.log_tail or await self._output_tail(runner, services_dir, job_id)
            raise ProvisioningFailed(f"job {job_id} on {endpoint.host}: {endpoint.error}", tail)
        if endpoint.job_id and endpoint.job_id != job_id:
            raise ProvisioningFailed(
                f"endpoint of submission {endpoint.nonce} names job {endpoint.job_id}, not {job_id}"
            )
        if info is None or not info.end_time:
            info = (await self._poller.jobs(runner, [job_id], fresh=True))[job_id]
        if info is not None and info.end_time:
            bundle["expires_at"] = info.end_time
        bundle["services"] = endpoint.services
        bundle["store_locator"] = endpoint.store_locator
        bundle["tunnel_targets"] = tunnel_targets(endpoint.services)
        await _mirror_atlas_token(runner, endpoint.services.get("atlas"))
        await save(bundle)
        for name in SERVICE_ORDER:
            if name in endpoint.services:
                handle = endpoint.services[name]
                await emit("READY", name, f"{handle['host']}:{handle['port']}")
        return bundle

    async def _output_tail(self, runner: CommandRunner, services_dir: str, job_id: str) -> str:
        return _tail(await runner.read_file(output_path(services_dir, job_id)))

    # -- probe -----------------------------------------------------------------------------

    async def probe(self, spec: Spec, bundle: Bundle) -> list[Probe]:
        services: dict[str, Any] = bundle.get("services", {})
        job_id = str(bundle.get("job_id") or "")
        if not job_id:
            bundle["job_state"] = ""
            return [
                Probe(
                    n,
                    str(h.get("host", "")),
                    int(h.get("port", 0)),
                    False,
                    "unreachable",
                    "no job recorded",
                )
                for n, h in services.items()
            ]
        async with self._open(slurm_env(spec)) as runner:
            info = (await self._poller.jobs(runner, [job_id]))[job_id]
            bundle["job_state"] = _describe(info)
            node = _services_node(services)
            if info is None or not info.running:
                note = await node_note(runner, node) if node else None
                if note:
                    bundle["job_state"] += f"; {note}"
                stopped = await self._stop_note(runner, spec, bundle)
                if stopped:
                    bundle["job_state"] += f"; {stopped}"
                state = "unknown" if info is None else "unreachable"
                detail = f"job {job_id} is {bundle['job_state']}"
                return [
                    Probe(
                        n,
                        str(h.get("host", "")),
                        int(h.get("port", 0)),
                        False,
                        state,
                        detail,
                        str(h.get("url", "")),
                    )
                    for n, h in services.items()
                ]
            checks = [probe_service(runner, n, services[n]) for n in services]
            probes = list(await asyncio.gather(*checks))
            if not all(p.healthy for p in probes) and await self._follow(
                runner, spec, bundle, info
            ):  # requeued and running again elsewhere: probe where it says it is now
                services = bundle["services"]
                node = _services_node(services)
                checks = [probe_service(runner, n, services[n]) for n in services]
                probes = list(await asyncio.gather(*checks))
            if node and not all(p.healthy for p in probes):
                note = await node_note(runner, node)
                if note:  # running by SLURM's last word, but its node has gone quiet
                    bundle["job_state"] += f"; {note}"
                    probes = [
                        p if p.healthy else p._replace(detail=f"{p.detail}; {note}") for p in probes
                    ]
            return probes

    async def _stop_note(self, runner: CommandRunner, spec: Spec, bundle: Bundle) -> str:
        """How the job's last run ended, when it stopped on a signal (walltime, preemption,
        scancel): its endpoint says so once its services have shut down."""
        endpoint = await read_endpoint(runner, str(spec.services_dir), str(bundle.get("nonce")))
        if endpoint is None or endpoint.state != "stopped":
            return ""
        return endpoint.error

    async def _follow(
        self, runner: CommandRunner, spec: Spec, bundle: Bundle, info: JobInfo
    ) -> bool:
        """Take the job's newer endpoint into ``bundle`` (True) when the job was requeued and
        its services came up again elsewhere: same submission and job, the node it runs on."""
        endpoint = await read_endpoint(runner, str(spec.services_dir), str(bundle["nonce"]))
        if endpoint is None or endpoint.state != "ready" or endpoint.job_id != bundle["job_id"]:
            return False
        if endpoint.node != info.node or endpoint.services == bundle.get("services"):
            return False  # the last run's report, or nothing new
        bundle["services"] = endpoint.services
        bundle["store_locator"] = endpoint.store_locator
        bundle["tunnel_targets"] = tunnel_targets(endpoint.services)
        if info.end_time:
            bundle["expires_at"] = info.end_time
        await _mirror_atlas_token(runner, endpoint.services.get("atlas"))
        return True

    # -- stop ------------------------------------------------------------------------------

    async def stop(self, spec: Spec, bundle: Bundle, emit: Emit) -> None:
        job_id = str(bundle.get("job_id") or "")
        async with self._open(slurm_env(spec)) as runner:
            if job_id:
                ids = [job_id]
            else:  # interrupted between sbatch and recording its answer: find it by name
                name = job_name(spec, str(bundle.get("nonce", "")))
                found = await runner.run(job_ids_named_argv(name))
                ids = found.stdout.split()
            await self._cancel(runner, ids, emit)

    async def _cancel(self, runner: CommandRunner, ids: list[str], emit: Emit) -> None:
        for one in ids:
            await emit("STOPPING", message=f"cancelling job {one}")
            done = await runner.run(scancel_argv([one]), check=False)
            if done.returncode != 0 and not unknown_job(done.stderr):
                raise SchedulerError(list(done.argv), done.returncode, done.stderr)
            final = await self._wait_gone(runner, one)
            await emit("INFO", message=f"job {one} ended ({final})")
            self._poller.forget(runner, [one])

    async def _wait_gone(self, runner: CommandRunner, job_id: str) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STOP_TIMEOUT
        delay = 0.1
        info: JobInfo | None = None
        while loop.time() < deadline:
            info = (await self._poller.jobs(runner, [job_id], fresh=True))[job_id]
            if info is not None and not info.active:
                return info.state
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, 2.0)
        raise ProvisioningFailed(
            f"job {job_id} still {_describe(info)} {STOP_TIMEOUT:g}s after scancel"
        )

    async def recover(self, spec: Spec, emit: Emit) -> bool:
        """Cancel this environment's services jobs that no bundle names (deleted, corrupt or
        truncated): found among the caller's own jobs by name and working directory
        (`orphans`)."""
        async with self._open(slurm_env(spec)) as runner:
            unrecorded = await find_environment_jobs(runner, spec)
            if unrecorded:
                await emit("INFO", message=f"job {', '.join(unrecorded)} has no bundle")
            await self._cancel(runner, unrecorded, emit)
        return bool(unrecorded)

    def log_paths(self, spec: Spec, bundle: Bundle) -> dict[str, Path]:
        """Where the job writes each service's log: derived from the services directory,
        never taken from the bundle."""
        run_dir = spec.services_dir / "run"
        known = {"postgres": run_dir / "postgres.log", "atlas": run_dir / "atlas.log"}
        paths = {n: known[n] for n in bundle.get("services", {}) if n in known}
        if bundle.get("job_id"):
            paths["job"] = Path(output_path(str(spec.services_dir), str(bundle["job_id"])))
        return paths

    def describe(self, spec: Spec, nonce: str) -> str:
        """The plan and batch script for ``--dry-run`` (no secret is in either)."""
        plan, job, spec_file = plan_job(spec, nonce)
        env = slurm_env(spec)
        via = "sbatch on this machine" if runs_locally(env) else f"sbatch over SSH to {env.gateway}"
        return (
            f"# submission: {via}; queue budget {env.queue_timeout:g}s, "
            f"start-up budget {env.start_timeout:g}s\n"
            f"# job spec {spec_file}:\n" + job.to_json().decode() + "\n"
            f"# endpoint {endpoint_path(str(spec.services_dir))}\n"
            "# batch script (sbatch --parsable < script):\n" + render_sbatch(plan)
        )


def _services_node(services: dict[str, Any]) -> str:
    """The node the bundle's services ran on (SLURM's name), "" when not recorded."""
    return next((str(h["node"]) for h in services.values() if h.get("node")), "")


def _describe(info: JobInfo | None) -> str:
    if info is None:
        return "UNKNOWN (squeue failed)"
    text = info.state
    if info.reason and info.state != "RUNNING":
        text += f" ({info.reason})"
    if info.node and info.state == "RUNNING":
        text += f" on {info.node}"
    return text
