"""Orchestrator servicer: translates messages to Lifecycle calls and back."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc

from metalab.core import errors
from metalab.core.convert import to_message
from metalab.core.status import abort
from metalab.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from metalab_orchestrator.lifecycle import Lifecycle
from metalab_orchestrator.logs import read_logs
from metalab_orchestrator.registry_port import registry_port
from metalab_orchestrator.spec import Spec, parse_spec
from metalab_server.details import summarize

Phase = orchestrator_pb2.UpEvent.Phase
UpEvent = orchestrator_pb2.UpEvent


def permission_denied(exc: PermissionError) -> str:
    """One line: what the server's account may not touch, and how to let it."""
    uid = os.getuid()
    if not exc.filename:
        return f"permission denied to the server's account (uid {uid})"
    where = Path(os.fsdecode(exc.filename))
    # A path that cannot be created names its parent: the directory to open up.
    target = next((p for p in (where, *where.parents) if os.path.exists(p)), where)
    return (
        f"{where}: permission denied to the server's account (uid {uid}):"
        f" give it write access to {target}, e.g. chown {uid} {target}"
    )


class OrchestratorServicer(orchestrator_pb2_grpc.OrchestratorServicer):
    def __init__(self, lifecycle: Lifecycle | None = None) -> None:
        self._lifecycle = lifecycle or Lifecycle(registry_port())
        self._work: set[asyncio.Task[UpEvent]] = set()

    async def drain(self) -> None:
        """Cancel the calls still working (the server is stopping) and wait for their clean-up."""
        for task in self._work:
            task.cancel()
        await asyncio.gather(*self._work, return_exceptions=True)
        await self._lifecycle.drain()

    async def Up(
        self, request: orchestrator_pb2.UpRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[UpEvent]:
        async def work(spec: Spec, emit: Any) -> UpEvent:
            if request.dry_run:
                return UpEvent(phase=Phase.INFO, message=self._lifecycle.plan(spec))
            bundle, reused = await self._lifecycle.up(spec, emit, force=request.force)
            phase = Phase.REUSED if reused else Phase.READY
            return UpEvent(phase=phase, bundle=to_message(bundle))

        async for event in _stream(request.spec, context, work, self._work):
            yield event

    async def Down(
        self, request: orchestrator_pb2.DownRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[UpEvent]:
        async def work(spec: Spec, emit: Any) -> UpEvent:
            stopped = await self._lifecycle.down(spec, emit)
            message = "stopped" if stopped else "nothing was running"
            return UpEvent(phase=Phase.STOPPED, message=message)

        async for event in _stream(request.spec, context, work, self._work):
            yield event

    async def Status(
        self, request: orchestrator_pb2.StatusRequest, context: grpc.aio.ServicerContext
    ) -> orchestrator_pb2.StatusResponse:
        try:
            spec = parse_spec(request.spec)
            bundle, probes = await self._lifecycle.status(spec)
        except errors.MetalabError as exc:
            await abort(context, exc, summarize(str(exc)))
        pending = await asyncio.to_thread(_index_pending, spec)
        if bundle is None:
            return orchestrator_pb2.StatusResponse(found=False, index_pending=pending)
        return orchestrator_pb2.StatusResponse(
            found=True,
            index_pending=pending,
            bundle=to_message(bundle),
            services=[
                orchestrator_pb2.ServiceStatus(
                    name=p.name,
                    host=p.host,
                    port=p.port,
                    healthy=p.healthy,
                    state=p.state,
                    detail=p.detail,
                    url=p.url,
                )
                for p in probes
            ],
            job_state=str(bundle.get("job_state", "")),
        )

    async def Logs(
        self, request: orchestrator_pb2.LogsRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[orchestrator_pb2.LogChunk]:
        try:
            spec = parse_spec(request.spec)
            bundle, _probes = await self._lifecycle.status(spec)
            if bundle is None:
                raise errors.BundleNotFound(f"no services running for {spec.project}/{spec.name}")
            paths = self._lifecycle.backend(spec).log_paths(spec, bundle)
            async for service, line in read_logs(
                paths, request.service, request.lines, request.follow
            ):
                yield orchestrator_pb2.LogChunk(service=service, line=line)
        except errors.MetalabError as exc:
            await abort(context, exc, summarize(str(exc)))


def _index_pending(spec: Spec) -> int:
    """Index writes waiting under a local environment's ``file_root`` (files this server
    sees; a SLURM job's catch-up reports in its own output)."""
    from metalab_orchestrator.index_catch_up import pending_writes

    return pending_writes(spec.file_root or "") if spec.type == "local" else 0


async def _stream(
    spec_message: Any,
    context: grpc.aio.ServicerContext,
    work: Callable[[Spec, Any], Awaitable[UpEvent]],
    running: set[asyncio.Task[UpEvent]],
) -> AsyncIterator[UpEvent]:
    """Run ``work`` (tracked in ``running``) while relaying its progress events.

    Errors end the stream with a status.
    """
    queue: asyncio.Queue[UpEvent | None] = asyncio.Queue()

    async def emit(phase: str, service: str = "", message: str = "", log_tail: str = "") -> None:
        await queue.put(
            UpEvent(phase=Phase.Value(phase), service=service, message=message, log_tail=log_tail)
        )

    try:
        spec = parse_spec(spec_message)
    except errors.MetalabError as exc:
        await abort(context, exc, summarize(str(exc)))

    async def run() -> UpEvent:
        try:
            return await work(spec, emit)
        finally:
            await queue.put(None)

    task = asyncio.ensure_future(run())
    running.add(task)
    task.add_done_callback(running.discard)
    try:
        while (event := await queue.get()) is not None:
            yield event
        final = await task
    except errors.ProvisioningFailed as exc:
        yield UpEvent(phase=Phase.FAILED, message=str(exc), log_tail=exc.log_tail)
        await abort(context, exc, summarize(str(exc)))
    except errors.MetalabError as exc:
        await abort(context, exc, summarize(str(exc)))
    except PermissionError as exc:  # e.g. a directory a containerised server may not write
        denied = permission_denied(exc)
        await abort(context, errors.ConfigError(denied), summarize(denied))
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    yield final
