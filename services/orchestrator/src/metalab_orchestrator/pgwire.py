"""An authenticated ``SELECT 1`` over PostgreSQL's wire protocol, with the standard library only.

The health probe of `probes.check_postgres`: one TCP connection, a startup message, the
authentication the server asks for (SCRAM-SHA-256 with the server's signature verified, MD5, a
clear-text password, or none for ``trust``), ``SELECT 1`` answered ``1``, then Terminate. It
proves what ``psql -c 'SELECT 1'`` proved, without a fork/exec of psql or an import of psycopg.
The password comes from a libpq password file, read the way libpq reads it; the caller opens
the connection (`probes.connect_tcp`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import stat
import struct
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import socket

PROTOCOL_3 = 196608
AUTH_OK, AUTH_CLEARTEXT, AUTH_MD5 = 0, 3, 5
AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL = 10, 11, 12
SCRAM = "SCRAM-SHA-256"


class ProbeFailed(Exception):
    """The check failed; ``str(exc)`` is the one-line detail shown to the user."""


def passfile_password(path: Path, host: str, port: int, database: str, user: str) -> str | None:
    """The password libpq would take from ``path`` for this connection, or None.

    First matching line wins; ``*`` matches anything; ``\\:`` and ``\\\\`` escape. Like libpq,
    a file readable by group or others is ignored.
    """
    try:
        if os.stat(path).st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            return None
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    wanted = (host, str(port), database, user)
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        fields = _split_pgpass(line)
        if len(fields) < 5:
            continue
        if all(f in ("*", w) for f, w in zip(fields[:4], wanted, strict=True)):
            return fields[4]
    return None


def _split_pgpass(line: str) -> list[str]:
    fields: list[str] = []
    current: list[str] = []
    chars = iter(line)
    for char in chars:
        if char == "\\":
            current.append(next(chars, ""))
        elif char == ":" and len(fields) < 4:
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def select_one(
    sock: socket.socket, user: str, database: str, password: str | None, timeout: float = 3.0
) -> None:
    """Authenticate on the connected ``sock`` and run ``SELECT 1`` within ``timeout`` seconds;
    raise `ProbeFailed` with the reason otherwise."""
    deadline = time.monotonic() + timeout
    try:
        _Session(sock, deadline, user, password).run(database)
    except (OSError, struct.error) as exc:
        raise ProbeFailed(f"no answer: {exc or type(exc).__name__}") from None


class _Session:
    """One probe connection: reads typed messages, answers authentication, checks the row."""

    def __init__(self, sock: socket.socket, deadline: float, user: str, password: str | None):
        self._sock = sock
        self._deadline = deadline
        self._user = user
        self._password = password
        self._buffer = b""
        self._scram: _Scram | None = None

    def run(self, database: str) -> None:
        params = {"user": self._user, "database": database, "application_name": "metalab-probe"}
        body = b"".join(f"{k}\0{v}\0".encode() for k, v in params.items()) + b"\0"
        self._sock.sendall(struct.pack("!ii", 8 + len(body), PROTOCOL_3) + body)
        queried, value = False, None
        while True:
            kind, body = self._read()
            if kind == b"R":
                self._authenticate(body)
            elif kind == b"E":
                raise ProbeFailed(_error_text(body))
            elif kind == b"Z" and not queried:
                self._send(b"Q", b"SELECT 1\0")
                queried = True
            elif kind == b"D":
                value = _first_column(body)
            elif kind == b"Z":
                self._send(b"X", b"")
                if value != b"1":
                    raise ProbeFailed(f"SELECT 1 answered {value!r}")
                return

    def _authenticate(self, body: bytes) -> None:
        code = struct.unpack("!i", body[:4])[0]
        if code == AUTH_OK:
            return
        if code == AUTH_SASL_FINAL:
            if self._scram is None:
                raise ProbeFailed("unexpected SASL final message")
            self._scram.verify(body[4:])
            return
        password = self._password
        if password is None:
            raise ProbeFailed("fe_sendauth: no password supplied")
        if code == AUTH_CLEARTEXT:
            self._send(b"p", password.encode() + b"\0")
        elif code == AUTH_MD5:
            inner = hashlib.md5((password + self._user).encode()).hexdigest()
            outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
            self._send(b"p", b"md5" + outer.encode() + b"\0")
        elif code == AUTH_SASL:
            mechanisms = body[4:].split(b"\0")
            if SCRAM.encode() not in mechanisms:
                raise ProbeFailed(f"no supported SASL mechanism in {mechanisms!r}")
            self._scram = _Scram(password)
            first = self._scram.client_first()
            self._send(b"p", SCRAM.encode() + b"\0" + struct.pack("!i", len(first)) + first)
        elif code == AUTH_SASL_CONTINUE:
            if self._scram is None:
                raise ProbeFailed("unexpected SASL continue message")
            self._send(b"p", self._scram.client_final(body[4:]))
        else:
            raise ProbeFailed(f"authentication method {code} not supported")

    def _send(self, kind: bytes, body: bytes) -> None:
        self._sock.sendall(kind + struct.pack("!i", 4 + len(body)) + body)

    def _read(self) -> tuple[bytes, bytes]:
        head = self._exactly(5)
        length = struct.unpack("!i", head[1:])[0]
        return head[:1], self._exactly(length - 4)

    def _exactly(self, size: int) -> bytes:
        while len(self._buffer) < size:
            remaining = self._deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("timed out")
            self._sock.settimeout(remaining)
            chunk = self._sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data


class _Scram:
    """The client side of SCRAM-SHA-256 (RFC 5802, 7677) as PostgreSQL speaks it."""

    def __init__(self, password: str) -> None:
        self._password = saslprep(password).encode()
        self._nonce = base64.b64encode(os.urandom(18)).decode()
        self._first_bare = f"n=,r={self._nonce}"
        self._server_signature = b""

    def client_first(self) -> bytes:
        return f"n,,{self._first_bare}".encode()

    def client_final(self, server_first: bytes) -> bytes:
        text = server_first.decode()
        attrs = dict(part.split("=", 1) for part in text.split(","))
        nonce, salt, iterations = attrs.get("r", ""), attrs.get("s", ""), attrs.get("i", "0")
        if not nonce.startswith(self._nonce) or not salt or not iterations.isdigit():
            raise ProbeFailed("malformed SCRAM challenge from the server")
        salted = hashlib.pbkdf2_hmac(
            "sha256", self._password, base64.b64decode(salt), int(iterations)
        )
        without_proof = f"c=biws,r={nonce}"
        message = f"{self._first_bare},{text},{without_proof}".encode()
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        signature = hmac.digest(hashlib.sha256(client_key).digest(), message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._server_signature = hmac.digest(server_key, message, "sha256")
        return f"{without_proof},p={base64.b64encode(proof).decode()}".encode()

    def verify(self, server_final: bytes) -> None:
        attrs = dict(part.split("=", 1) for part in server_final.decode().split(","))
        received = base64.b64decode(attrs.get("v", ""))
        if not hmac.compare_digest(received, self._server_signature):
            raise ProbeFailed("the server's SCRAM signature does not match")


def saslprep(password: str) -> str:
    """SASLprep (RFC 4013) as PostgreSQL applies it: ASCII unchanged; a password SASLprep
    rejects is used as it is, as the server does too."""
    if password.isascii():
        return password
    import stringprep
    import unicodedata

    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in password if not stringprep.in_table_b1(c)
    )
    normal = unicodedata.normalize("NFKC", mapped)
    prohibited = (
        stringprep.in_table_a1,
        stringprep.in_table_c12,
        stringprep.in_table_c21_c22,
        stringprep.in_table_c3,
        stringprep.in_table_c4,
        stringprep.in_table_c5,
        stringprep.in_table_c6,
        stringprep.in_table_c7,
        stringprep.in_table_c8,
        stringprep.in_table_c9,
    )
    if not normal or any(check(c) for c in normal for check in prohibited):
        return password
    rand_al = [stringprep.in_table_d1(c) for c in normal]
    if any(rand_al) and (
        any(stringprep.in_table_d2(c) for c in normal) or not (rand_al[0] and rand_al[-1])
    ):
        return password
    return normal


def _error_text(body: bytes) -> str:
    """``SEVERITY:  message`` from an ErrorResponse, as libpq prints it."""
    fields = {f[:1]: f[1:].decode(errors="replace") for f in body.split(b"\0") if f}
    severity = fields.get(b"V") or fields.get(b"S") or "ERROR"
    return f"{severity}:  {fields.get(b'M', 'unknown error')}"


def _first_column(body: bytes) -> bytes | None:
    (count,) = struct.unpack("!h", body[:2])
    if count < 1:
        return None
    (size,) = struct.unpack("!i", body[2:6])
    return None if size < 0 else body[6 : 6 + size]
