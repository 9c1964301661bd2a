"""Atlas bounds request headers: 431 with the reason, and uvicorn's own buffer set explicitly.

Raw HTTP over a socket to a real Atlas process (a FileStore), so nothing between the test and
the server rewrites the headers.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from metalab._runstore.file import FileStore
from metalab_atlas.headercap import MAX_HEAD_BYTES, MAX_HEADER_BYTES, MAX_HEADERS
from tests.integration.atlas.dataset import populate
from tests.integration.atlas.server import Atlas, running_atlas

pytestmark = pytest.mark.timeout(120)
TOKEN = "header-test-token"


@pytest.fixture(scope="module")
def atlas(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Atlas]:
    root = tmp_path_factory.mktemp("headers")
    populate(FileStore(root / "store"))
    with running_atlas(str(root / "store"), root / "atlas.log", token=TOKEN) as server:
        yield server


def exchange(atlas: Atlas, headers: list[tuple[str, str]]) -> tuple[int, bytes]:
    """(status, body) of ``GET /api/health`` sent with ``headers`` (Host and Connection
    first, then the bearer token), read until the server closes the connection."""
    host, port = atlas.url.removeprefix("http://").split(":")
    lines = [f"Host: {host}:{port}", "Connection: close", f"Authorization: Bearer {TOKEN}"]
    lines += [f"{name}: {value}" for name, value in headers]
    request = "GET /api/health HTTP/1.1\r\n" + "".join(f"{line}\r\n" for line in lines) + "\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def wire_size(headers: list[tuple[str, str]]) -> int:
    """The bytes of the header lines `exchange` sends (its three of its own included)."""
    base = len("Host: 127.0.0.1:65535\r\nConnection: close\r\n")
    base += len(f"Authorization: Bearer {TOKEN}\r\n")
    return base + sum(len(n) + len(v) + 4 for n, v in headers)


def padded(total: int) -> list[tuple[str, str]]:
    """One X-Pad header making the header lines about ``total`` bytes."""
    return [("X-Pad", "p" * (total - wire_size([("X-Pad", "")])))]


def test_at_most_max_headers_fields(atlas: Atlas) -> None:
    own = 3
    status, _ = exchange(atlas, [(f"X-H{i}", "v") for i in range(MAX_HEADERS - own)])
    assert status == 200
    status, body = exchange(atlas, [(f"X-H{i}", "v") for i in range(MAX_HEADERS - own + 1)])
    assert status == 431
    reason = json.loads(body)["error"]
    assert reason == f"{MAX_HEADERS + 1} request header fields; at most {MAX_HEADERS}"


def test_at_most_max_header_bytes(atlas: Atlas) -> None:
    status, _ = exchange(atlas, padded(MAX_HEADER_BYTES - 100))
    assert status == 200
    status, body = exchange(atlas, padded(MAX_HEADER_BYTES + 100))
    assert status == 431, body
    reason = json.loads(body)["error"]
    assert reason.startswith("request headers of ") and reason.endswith(
        f"bytes; at most {MAX_HEADER_BYTES}"
    )
    assert "\n" not in reason


def trickled(atlas: Atlas, head_bytes: int, finish: bool) -> bytes:
    """What Atlas answers to a request head of about ``head_bytes`` sent without its final
    blank line, then (``finish``) with it."""
    host, port = atlas.url.removeprefix("http://").split(":")
    start = f"GET /api/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    pad = "X-Pad: " + "p" * (head_bytes - len(start) - 9) + "\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall((start + pad).encode())
        if finish:
            sock.sendall(b"\r\n")
        return sock.makefile("rb").read()


def test_uvicorn_buffers_an_incomplete_head_up_to_max_head_bytes(atlas: Atlas) -> None:
    """uvicorn (h11) holds an unfinished head of 32 KiB — over its default 16 KiB, so the
    bound is set explicitly — and Atlas then answers 431; an unfinished head over
    `MAX_HEAD_BYTES` is refused by uvicorn with 400 and the connection closed, without
    waiting for the rest."""
    assert trickled(atlas, 32 * 1024, finish=True).startswith(b"HTTP/1.1 431 ")
    refused = trickled(atlas, MAX_HEAD_BYTES + 1024, finish=False)
    assert refused.startswith(b"HTTP/1.1 400 ")
    assert refused.endswith(b"Invalid HTTP request received.")


def test_headers_are_checked_before_the_token(atlas: Atlas) -> None:
    host, port = atlas.url.removeprefix("http://").split(":")
    request = f"GET /api/health HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    request += "".join(f"X-H{i}: v\r\n" for i in range(MAX_HEADERS)) + "\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(request.encode())
        received = sock.makefile("rb").read()
    assert received.startswith(b"HTTP/1.1 431 ")
