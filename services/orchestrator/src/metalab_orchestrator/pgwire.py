"""PostgreSQL's wire protocol (v3) with the standard library only: sessions, simple queries.

`Session.open` starts a session on a connected socket (TCP, or the Unix socket from
`connect_unix`) and answers the authentication the server asks for: none (``trust``, or ``peer``
over the Unix socket), SCRAM-SHA-256 with the server's signature verified (`pgscram`), MD5, or a
clear-text password. `Session.execute` runs simple-query statements and returns their rows as
text; an ErrorResponse becomes `ServerError` carrying the server's message. Statements are built
with `quote_ident` and `quote_literal`. `select_one` is the health probe of
`probes.check_postgres`: what ``psql -c 'SELECT 1'`` proves, without a fork/exec of psql or an
import of psycopg. Its password comes from a libpq password file, read the way libpq reads it.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import struct
import time
from pathlib import Path
from types import TracebackType

from .pgscram import SCRAM, ScramClient, ScramError

PROTOCOL_3 = 196608
AUTH_OK, AUTH_CLEARTEXT, AUTH_MD5 = 0, 3, 5
AUTH_SASL, AUTH_SASL_CONTINUE, AUTH_SASL_FINAL = 10, 11, 12

Row = tuple[str | None, ...]


class WireError(Exception):
    """A connection or statement failed; ``str(exc)`` is one line, worded as libpq words it."""


class ServerError(WireError):
    """An ErrorResponse: ``str(exc)`` is ``SEVERITY:  message``, as libpq prints it."""

    def __init__(self, body: bytes) -> None:
        fields = {f[:1]: f[1:].decode(errors="replace") for f in body.split(b"\0") if f}
        self.severity = fields.get(b"V") or fields.get(b"S") or "ERROR"
        self.sqlstate = fields.get(b"C", "")
        self.message = fields.get(b"M", "unknown error")
        super().__init__(f"{self.severity}:  {self.message}")


def quote_ident(name: str) -> str:
    """``name`` as an SQL identifier: double-quoted, inner quotes doubled, case kept."""
    if "\0" in name or not name:
        raise ValueError("an identifier is non-empty and has no NUL character")
    return '"' + name.replace('"', '""') + '"'


def quote_literal(value: str) -> str:
    """``value`` as an SQL string constant, right whatever ``standard_conforming_strings``
    says: with a backslash, the ``E'...'`` form with backslashes doubled (as libpq does)."""
    if "\0" in value:
        raise ValueError("a string constant has no NUL character")
    quoted = value.replace("'", "''")
    if "\\" in value:
        return "E'" + quoted.replace("\\", "\\\\") + "'"
    return "'" + quoted + "'"


def connect_unix(socket_dir: Path, port: int, timeout: float) -> socket.socket:
    """A connection to the server's Unix socket ``socket_dir/.s.PGSQL.port``."""
    path = socket_dir / f".s.PGSQL.{port}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(str(path))
    except OSError as exc:
        sock.close()
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise WireError(f'connection to server on socket "{path}" failed: {reason}') from None
    return sock


def _no_answer(exc: Exception) -> WireError:
    return WireError(f"no answer: {exc or type(exc).__name__}")


class Session:
    """One authenticated session on a socket; closing it sends Terminate and closes the socket.

    Every read and write shares the deadline given to `open`.
    """

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline
        self._buffer = b""
        self.parameters: dict[str, str] = {}  # ParameterStatus: server_version, ...

    @classmethod
    def open(
        cls,
        sock: socket.socket,
        user: str,
        database: str,
        password: str | None = None,
        *,
        timeout: float = 3.0,
        application_name: str = "metalab",
    ) -> Session:
        """Start up and authenticate on the connected ``sock`` within ``timeout`` seconds."""
        session = cls(sock, time.monotonic() + timeout)
        try:
            session._start(user, database, password, application_name)
        except BaseException as exc:
            sock.close()
            if isinstance(exc, OSError | struct.error):
                raise _no_answer(exc) from None
            if isinstance(exc, ScramError):
                raise WireError(str(exc)) from None
            raise
        return session

    def execute(self, sql: str) -> list[Row]:
        """Run ``sql`` (one or more statements) with the simple-query protocol and return the
        rows of the last statement that returns rows ([] if none does). An ErrorResponse
        raises `ServerError` once the server is ready again: the session stays usable."""
        try:
            return self._query(sql)
        except (OSError, struct.error) as exc:
            raise _no_answer(exc) from None

    def close(self) -> None:
        try:
            self._send(b"X", b"")
        except OSError:
            pass
        finally:
            self._sock.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _start(self, user: str, database: str, password: str | None, app: str) -> None:
        params = {
            "user": user,
            "database": database,
            "application_name": app,
            "client_encoding": "UTF8",
        }
        if any("\0" in value for value in params.values()):
            raise WireError("a connection parameter contains a NUL character")
        body = b"".join(f"{k}\0{v}\0".encode() for k, v in params.items()) + b"\0"
        self._sock.sendall(struct.pack("!ii", 8 + len(body), PROTOCOL_3) + body)
        scram: ScramClient | None = None
        while True:
            kind, body = self._read()
            if kind == b"R":
                scram = self._authenticate(body, user, password, scram)
            elif kind == b"E":
                raise ServerError(body)
            elif kind == b"S":
                self._parameter(body)
            elif kind == b"Z":
                return

    def _authenticate(
        self, body: bytes, user: str, password: str | None, scram: ScramClient | None
    ) -> ScramClient | None:
        """Answer one authentication request; the SCRAM exchange in progress, if any."""
        code = struct.unpack("!i", body[:4])[0]
        if code == AUTH_OK:
            return scram
        if code == AUTH_SASL_FINAL:
            if scram is None:
                raise WireError("unexpected SASL final message")
            scram.verify(body[4:])
            return scram
        if password is None:
            raise WireError("fe_sendauth: no password supplied")
        if code == AUTH_CLEARTEXT:
            self._send(b"p", password.encode() + b"\0")
        elif code == AUTH_MD5:
            inner = hashlib.md5((password + user).encode()).hexdigest()
            outer = hashlib.md5(inner.encode() + body[4:8]).hexdigest()
            self._send(b"p", b"md5" + outer.encode() + b"\0")
        elif code == AUTH_SASL:
            mechanisms = body[4:].split(b"\0")
            if SCRAM.encode() not in mechanisms:
                raise WireError(f"no supported SASL mechanism in {mechanisms!r}")
            scram = ScramClient(password)
            first = scram.client_first()
            self._send(b"p", SCRAM.encode() + b"\0" + struct.pack("!i", len(first)) + first)
        elif code == AUTH_SASL_CONTINUE:
            if scram is None:
                raise WireError("unexpected SASL continue message")
            self._send(b"p", scram.client_final(body[4:]))
        else:
            raise WireError(f"authentication method {code} not supported")
        return scram

    def _query(self, sql: str) -> list[Row]:
        if "\0" in sql:
            raise ValueError("a statement has no NUL character")
        self._send(b"Q", sql.encode() + b"\0")
        rows: list[Row] = []
        error: ServerError | None = None
        while True:
            kind, body = self._read()
            if kind == b"T":
                rows = []
            elif kind == b"D":
                rows.append(_row(body))
            elif kind == b"E":
                error = ServerError(body)
            elif kind == b"S":
                self._parameter(body)
            elif kind == b"G":  # COPY FROM STDIN: refuse it, the server then reports an error
                self._send(b"f", b"COPY is not supported\0")
            elif kind == b"Z":
                if error is not None:
                    raise error
                return rows

    def _parameter(self, body: bytes) -> None:
        name, value = body.decode(errors="replace").split("\0")[:2]
        self.parameters[name] = value

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


def _row(body: bytes) -> Row:
    (count,) = struct.unpack("!h", body[:2])
    values: list[str | None] = []
    at = 2
    for _ in range(count):
        (size,) = struct.unpack("!i", body[at : at + 4])
        at += 4
        values.append(None if size < 0 else body[at : at + size].decode(errors="replace"))
        at += max(size, 0)
    return tuple(values)


def select_one(
    sock: socket.socket, user: str, database: str, password: str | None, timeout: float = 3.0
) -> None:
    """Authenticate on the connected ``sock`` and run ``SELECT 1`` within ``timeout`` seconds;
    raise `WireError` with the reason otherwise."""
    with Session.open(
        sock, user, database, password, timeout=timeout, application_name="metalab-probe"
    ) as session:
        rows = session.execute("SELECT 1")
    if rows != [("1",)]:
        raise WireError(f"SELECT 1 answered {rows!r}")


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
