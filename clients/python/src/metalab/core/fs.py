"""Filesystem primitives: private directories and atomic, private-from-birth files."""

from __future__ import annotations

import os
from pathlib import Path


def read_capped(fd: int, limit: int) -> bytes | None:
    """The rest of the file behind ``fd``, or None when it holds more than ``limit`` bytes.
    Reads what ``fstat`` announces (plus growth), never allocating ``limit`` up front."""
    parts: list[bytes] = []
    total = 0
    step = min(limit, os.fstat(fd).st_size) + 1
    while chunk := os.read(fd, step):
        parts.append(chunk)
        total += len(chunk)
        if total > limit:
            return None
        step = min(limit - total, 1 << 16) + 1
    return b"".join(parts)


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) with mode 0700 for the directories this call creates."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so readers see the old or the new content, never a mix.

    The temporary file is created with ``mode`` (0600 by default) by ``open`` itself, so the
    content is never readable by others, not even for a moment; it is fsynced, then renamed over
    ``path``, and the directory is fsynced so the rename survives a crash.
    """
    import secrets  # here: reading paths (the CLI's fast path) needs no random source

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
