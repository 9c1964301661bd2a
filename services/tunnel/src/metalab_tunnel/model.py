"""Tunnel values shared by the forwarder, the servicer and the CLI: spec, bound forwards, events."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from metalab.core.ssh_options import LOCAL_HOST, ForwardSpec, SshTarget


@dataclass(frozen=True)
class TunnelSpec:
    """Everything needed to open one tunnel: where to connect and what to forward."""

    target: SshTarget
    forwards: tuple[ForwardSpec, ...]
    project: str = ""
    environment: str = ""


@dataclass(frozen=True)
class BoundForward:
    """A forward with the local port actually bound."""

    spec: ForwardSpec
    local_port: int

    @property
    def url(self) -> str:
        return f"{self.spec.scheme or 'tcp'}://{LOCAL_HOST}:{self.local_port}"


class EventKind(enum.Enum):
    ESTABLISHED = "established"
    RECONNECTING = "reconnecting"
    RESTORED = "restored"
    CLOSED = "closed"
    FAILED = "failed"


@dataclass(frozen=True)
class TunnelEvent:
    kind: EventKind
    forwards: tuple[BoundForward, ...]
    message: str = ""


EventCallback = Callable[[TunnelEvent], None]
