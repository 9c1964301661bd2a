"""SCRAM-SHA-256 as PostgreSQL speaks it (RFC 5802, 7677), with the standard library only.

The client side of the exchange (`ScramClient`, used by `pgwire`) and the stored verifier
(`scram_verifier`), built as libpq's ``PQencryptPasswordConn`` builds it, so that a password can
be set with ``ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'`` without ever sending the password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

SCRAM = "SCRAM-SHA-256"
DEFAULT_ITERATIONS = 4096  # libpq's, and the server's ``scram_iterations`` default
SALT_BYTES = 16  # libpq's SCRAM_DEFAULT_SALT_LEN


class ScramError(Exception):
    """The server's SCRAM messages are malformed or its signature is wrong."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _salted(password: str, salt: bytes, iterations: int) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", saslprep(password).encode(), salt, iterations)


def scram_verifier(
    password: str, *, iterations: int = DEFAULT_ITERATIONS, salt: bytes | None = None
) -> str:
    """``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`` for ``password``, with a
    random 16-byte salt unless ``salt`` is given; the password is SASLprep'd first, as libpq
    does."""
    if iterations < 1:
        raise ValueError("iterations must be positive")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    salted = _salted(password, salt, iterations)
    stored_key = hashlib.sha256(hmac.digest(salted, b"Client Key", "sha256")).digest()
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    return f"{SCRAM}${iterations}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def _attributes(message: bytes) -> dict[str, str]:
    try:
        return dict(part.split("=", 1) for part in message.decode().split(","))
    except (UnicodeDecodeError, ValueError):
        raise ScramError("malformed SCRAM message from the server") from None


class ScramClient:
    """One client exchange: first message, final message with the proof, signature check."""

    def __init__(self, password: str) -> None:
        self._password = password
        self._nonce = _b64(os.urandom(18))
        self._first_bare = f"n=,r={self._nonce}"
        self._server_signature = b""

    def client_first(self) -> bytes:
        return f"n,,{self._first_bare}".encode()

    def client_final(self, server_first: bytes) -> bytes:
        attrs = _attributes(server_first)
        nonce, salt, iterations = attrs.get("r", ""), attrs.get("s", ""), attrs.get("i", "0")
        if not nonce.startswith(self._nonce) or not salt or not iterations.isdigit():
            raise ScramError("malformed SCRAM challenge from the server")
        try:
            salted = _salted(self._password, base64.b64decode(salt), int(iterations))
        except ValueError:
            raise ScramError("malformed SCRAM challenge from the server") from None
        without_proof = f"c=biws,r={nonce}"
        message = f"{self._first_bare},{server_first.decode()},{without_proof}".encode()
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        signature = hmac.digest(hashlib.sha256(client_key).digest(), message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self._server_signature = hmac.digest(server_key, message, "sha256")
        return f"{without_proof},p={_b64(proof)}".encode()

    def verify(self, server_final: bytes) -> None:
        try:
            received = base64.b64decode(_attributes(server_final).get("v", ""))
        except ValueError:
            raise ScramError("malformed SCRAM message from the server") from None
        if not self._server_signature or not hmac.compare_digest(received, self._server_signature):
            raise ScramError("the server's SCRAM signature does not match")


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
