"""Hand an accepted socket to an OpenSSH ControlMaster: the client side of its mux protocol.

``MUX_C_NEW_STDIO_FWD`` (OpenSSH PROTOCOL.mux, version 4) asks the master to open a
``direct-tcpip`` channel to host:port and passes the socket twice (as the channel's input and
output) with SCM_RIGHTS. From then on ssh itself reads and writes the socket: the bytes never pass
through this process. The control connection must stay open while the channel lives; the master
closes it when the channel ends.
"""

from __future__ import annotations

import array
import functools
import socket
import struct

MUX_VERSION = 4
MSG_HELLO = 0x00000001
C_NEW_STDIO_FWD = 0x10000008
S_PERMISSION_DENIED = 0x80000002
S_FAILURE = 0x80000003
S_SESSION_OPENED = 0x80000006


def _string(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data


def _frame(*fields: bytes) -> bytes:
    return _string(b"".join(fields))


def hello() -> bytes:
    return _frame(struct.pack("!II", MSG_HELLO, MUX_VERSION))


@functools.lru_cache(maxsize=64)
def stdio_request(host: str, port: int, request_id: int = 1) -> bytes:
    return _frame(
        struct.pack("!II", C_NEW_STDIO_FWD, request_id),
        _string(b""),
        _string(host.encode()),
        struct.pack("!I", port),
    )


def connect(control_path: str) -> socket.socket:
    """A control connection to the master, our hello sent (its hello is read later)."""
    control = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        control.connect(control_path)
        control.sendall(hello())
    except OSError:
        control.close()
        raise
    return control


def hand_over(control: socket.socket, conn: socket.socket, host: str, port: int) -> None:
    """Ask for a channel to host:port carrying ``conn``; keep ``control`` open until the master
    closes it. Raises OSError when the master is not there (any more)."""
    control.sendall(stdio_request(host, port))
    fds = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [conn.fileno()]))]
    for _ in range(2):  # the channel's input, then its output
        control.sendmsg([b"\0"], fds)


def outcome(replies: bytes) -> tuple[bool, str | None]:
    """From the replies read so far: (session opened, the master's reason for refusing)."""
    offset = 0
    while offset + 8 <= len(replies):
        (length,) = struct.unpack_from("!I", replies, offset)
        body = replies[offset + 4 : offset + 4 + length]
        if len(body) < length:
            break
        (kind,) = struct.unpack_from("!I", body)
        if kind == S_SESSION_OPENED:
            return True, None
        if kind in (S_FAILURE, S_PERMISSION_DENIED) and len(body) >= 12:
            (size,) = struct.unpack_from("!I", body, 8)
            return False, body[12 : 12 + size].decode(errors="replace") or "refused"
        offset += 4 + length
    return False, None
