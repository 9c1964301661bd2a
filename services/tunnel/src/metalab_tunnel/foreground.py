"""What ``metalab tunnel`` runs without ``--detach``: open, report, hold until cancelled."""

from __future__ import annotations

import asyncio

from metalab_tunnel.forwarder import Tunnel
from metalab_tunnel.model import EventCallback, EventKind, TunnelEvent, TunnelSpec


async def run_foreground(spec: TunnelSpec, on_event: EventCallback) -> None:
    """Open the tunnel and keep it until the task is cancelled (Ctrl+C) or it fails for good.

    Raises ``metalab.errors.TunnelError`` (one clear line) when it cannot be opened. Events:
    ESTABLISHED (with bound ports), RECONNECTING / RESTORED, then CLOSED or FAILED.
    """
    failed = asyncio.Event()

    def relay(event: TunnelEvent) -> None:
        if event.kind is EventKind.FAILED:
            failed.set()
        on_event(event)

    tunnel = Tunnel(spec, relay)
    await tunnel.start()
    try:
        await failed.wait()
    finally:
        await asyncio.shield(tunnel.close())
