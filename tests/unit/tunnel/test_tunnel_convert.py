"""Proto ↔ tunnel values."""

from __future__ import annotations

import pytest

from metalab.core.ssh_options import ForwardSpec
from metalab.v1 import tunnel_pb2, types_pb2
from metalab_tunnel.convert import event_to_proto, spec_from_proto
from metalab_tunnel.forwarder import bound_lines
from metalab_tunnel.model import BoundForward, EventKind, TunnelEvent


def test_spec_from_proto_defaults_to_jump() -> None:
    message = tunnel_pb2.TunnelSpec(
        project="p",
        environment="e",
        ssh=tunnel_pb2.SshTarget(gateway="gw", user="u", options=["Compression=yes"]),
        forwards=[
            tunnel_pb2.Forward(
                local_port=8000,
                target=types_pb2.TunnelTarget(service="atlas", host="n1", port=9, scheme="http"),
            )
        ],
    )
    spec = spec_from_proto(message)
    assert spec.target.mode == "jump" and spec.target.user == "u" and spec.target.ssh_key is None
    assert spec.target.options == ("Compression=yes",)
    assert spec.forwards == (ForwardSpec("atlas", "n1", 9, 8000, "http"),)


def test_bad_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="jump, gateway"):
        spec_from_proto(tunnel_pb2.TunnelSpec(ssh=tunnel_pb2.SshTarget(mode="socks")))


def test_event_and_lines_put_atlas_first() -> None:
    pg = BoundForward(ForwardSpec("postgres", "n1", 5, 0, "postgresql"), 41000)
    atlas = BoundForward(ForwardSpec("atlas", "n1", 9, 0, "http"), 8000)
    assert bound_lines([pg, atlas]) == [
        "Tunnel established: http://127.0.0.1:8000",
        "Tunnel established: postgresql://127.0.0.1:41000",
    ]
    proto = event_to_proto("t1", TunnelEvent(EventKind.RESTORED, (atlas,), "restored"))
    assert proto.kind == tunnel_pb2.TunnelEvent.RESTORED and proto.tunnel_id == "t1"
    assert proto.forwards[0].local_port == 8000 and proto.forwards[0].target.port == 9


def test_data_path_defaults_to_openssh_and_is_validated() -> None:
    assert spec_from_proto(tunnel_pb2.TunnelSpec()).target.data_path == "openssh"
    ssh = tunnel_pb2.SshTarget(data_path="asyncssh")
    assert spec_from_proto(tunnel_pb2.TunnelSpec(ssh=ssh)).target.data_path == "asyncssh"
    with pytest.raises(ValueError, match="openssh, asyncssh"):
        spec_from_proto(tunnel_pb2.TunnelSpec(ssh=tunnel_pb2.SshTarget(data_path="splice")))
