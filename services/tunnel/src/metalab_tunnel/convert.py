"""Proto messages ↔ tunnel values (the servicer's only translation layer)."""

from __future__ import annotations

from metalab.core.ssh_options import (
    DATA_PATHS,
    MODES,
    DataPath,
    ForwardSpec,
    SshTarget,
    TunnelMode,
)
from metalab.v1 import tunnel_pb2, types_pb2
from metalab_tunnel.model import BoundForward, EventKind, TunnelEvent, TunnelSpec

_KINDS = {
    EventKind.ESTABLISHED: tunnel_pb2.TunnelEvent.ESTABLISHED,
    EventKind.RECONNECTING: tunnel_pb2.TunnelEvent.RECONNECTING,
    EventKind.RESTORED: tunnel_pb2.TunnelEvent.RESTORED,
    EventKind.CLOSED: tunnel_pb2.TunnelEvent.CLOSED,
    EventKind.FAILED: tunnel_pb2.TunnelEvent.FAILED,
}


def _mode(text: str) -> TunnelMode:
    for mode in MODES:
        if text == mode:
            return mode
    if not text:
        return "jump"
    raise ValueError(f"tunnel mode must be one of {', '.join(MODES)}, not {text!r}")


def _data_path(text: str) -> DataPath:
    for path in DATA_PATHS:
        if text == path:
            return path
    if not text:
        return DATA_PATHS[0]
    raise ValueError(f"data_path must be one of {', '.join(DATA_PATHS)}, not {text!r}")


def spec_from_proto(message: tunnel_pb2.TunnelSpec) -> TunnelSpec:
    ssh = message.ssh
    target = SshTarget(
        gateway=ssh.gateway,
        user=ssh.user or None,
        ssh_key=ssh.ssh_key or None,
        mode=_mode(ssh.mode),
        data_path=_data_path(ssh.data_path),
        accept_new_host_key=ssh.accept_new_host_key,
        options=tuple(ssh.options),
    )
    forwards = tuple(
        ForwardSpec(
            service=f.service or f.target.service,
            remote_host=f.target.host,
            remote_port=f.target.port,
            local_port=f.local_port,
            scheme=f.target.scheme,
        )
        for f in message.forwards
    )
    return TunnelSpec(target, forwards, message.project, message.environment)


def forward_to_proto(bound: BoundForward) -> tunnel_pb2.Forward:
    spec = bound.spec
    return tunnel_pb2.Forward(
        service=spec.service,
        local_port=bound.local_port,
        target=types_pb2.TunnelTarget(
            service=spec.service, host=spec.remote_host, port=spec.remote_port, scheme=spec.scheme
        ),
    )


def event_to_proto(tunnel_id: str, event: TunnelEvent) -> tunnel_pb2.TunnelEvent:
    return tunnel_pb2.TunnelEvent(
        kind=_KINDS[event.kind],
        tunnel_id=tunnel_id,
        forwards=[forward_to_proto(f) for f in event.forwards],
        message=event.message,
    )
