"""The ControlMaster mux messages we send and the replies we read."""

from __future__ import annotations

import struct

from metalab_tunnel import mux


def _frames(data: bytes) -> list[bytes]:
    out = []
    while data:
        (size,) = struct.unpack_from("!I", data)
        out.append(data[4 : 4 + size])
        data = data[4 + size :]
    return out


def test_stdio_request_is_hello_then_new_stdio_fwd() -> None:
    hello, request = _frames(mux.hello() + mux.stdio_request("node07", 8123, request_id=5))
    assert struct.unpack("!II", hello) == (mux.MSG_HELLO, 4)
    kind, rid, reserved = struct.unpack_from("!III", request)
    assert (kind, rid, reserved) == (mux.C_NEW_STDIO_FWD, 5, 0)
    assert request[12:] == struct.pack("!I", 6) + b"node07" + struct.pack("!I", 8123)


def _reply(kind: int, *rest: bytes) -> bytes:
    body = struct.pack("!II", kind, 1) + b"".join(rest)
    return struct.pack("!I", len(body)) + body


def test_outcome_reads_past_the_hello() -> None:
    hello = _reply(mux.MSG_HELLO)
    reason = b"stdio forwarding failed"
    failed = _reply(mux.S_FAILURE, struct.pack("!I", len(reason)) + reason)
    assert mux.outcome(hello + failed) == (False, "stdio forwarding failed")
    assert mux.outcome(hello + _reply(mux.S_SESSION_OPENED, b"\0\0\0\1")) == (True, None)
    assert mux.outcome(hello + failed[:-3]) == (False, None)  # not all read yet
    assert mux.outcome(hello) == (False, None)
