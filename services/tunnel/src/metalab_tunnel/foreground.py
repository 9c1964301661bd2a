"""What ``metalab tunnel`` runs without ``--detach``: open, report, hold until cancelled."""

from __future__ import annotations

import asyncio

from metalab.core.errors import TunnelError
from metalab_tunnel.forwarder import Tunnel
from metalab_tunnel.model import EventCallback, EventKind, TunnelEvent, TunnelSpec


async def run_foreground(spec: TunnelSpec, on_event: EventCallback) -> None:
    """Open the tunnel and keep it until the task is cancelled (Ctrl+C) or it fails for good.

    Never returns normally: cancellation closes the tunnel cleanly (CLOSED) and propagates;
    a tunnel that fails for good (e.g. host key changed while reconnecting) raises TunnelError.
    Raises ``metalab.core.errors.TunnelError`` (one clear line) when it cannot be opened. Events:
    ESTABLISHED (with bound ports), RECONNECTING / RESTORED, then CLOSED or FAILED.
    """
    failed = asyncio.Event()
    reason: list[str] = []

    def relay(event: TunnelEvent) -> None:
        if event.kind is EventKind.FAILED:
            reason.append(event.message)
            failed.set()
        on_event(event)

    tunnel = Tunnel(spec, relay)
    await tunnel.start()
    try:
        await failed.wait()
    finally:
        await asyncio.shield(tunnel.close())
    raise TunnelError(reason[0] if reason else "tunnel failed")
