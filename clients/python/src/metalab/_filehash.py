"""File and directory hashes used by context fingerprints.

Two families, each truncated to 16 hex digits:

* content hashes (:func:`file_hash`, :func:`dir_hash`) read every byte;
* metadata hashes (:func:`file_metadata_hash`, :func:`dir_metadata_hash`) hash
  ``size:mtime_ns:inode`` only, O(1) per file, which is what ``FilePath``/``DirPath`` use.

Directory members are visited in ``sorted(Path.glob(pattern))`` order, regular files only.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["dir_hash", "dir_metadata_hash", "file_hash", "file_metadata_hash"]

_CHUNK = 8192


def _files(directory: Path, pattern: str) -> Iterator[Path]:
    return (entry for entry in sorted(directory.glob(pattern)) if entry.is_file())


def _stat_key(stat: os.stat_result) -> str:
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}"


def _feed(digest: hashlib._Hash, path: Path) -> None:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)


def file_hash(path: str | Path, algorithm: str = "sha256") -> str:
    """Hash the contents of the file at ``path`` with ``algorithm`` (16 hex digits).

    Raises:
        FileNotFoundError: the file does not exist.
    """
    digest = hashlib.new(algorithm)
    _feed(digest, Path(path))
    return digest.hexdigest()[:16]


def dir_hash(path: str | Path, pattern: str = "*", algorithm: str = "sha256") -> str:
    """Hash the names and contents of the files in ``path`` matching ``pattern``.

    Each matching file contributes its base name, then its bytes, in sorted path order.

    Raises:
        FileNotFoundError: ``path`` is not a directory.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"Directory not found: {directory}")
    digest = hashlib.new(algorithm)
    for entry in _files(directory, pattern):
        digest.update(entry.name.encode())
        _feed(digest, entry)
    return digest.hexdigest()[:16]


def file_metadata_hash(path: str) -> str:
    """Hash ``size:mtime_ns:inode`` of ``path`` without reading it.

    Raises:
        FileNotFoundError: nothing exists at ``path``.
    """
    target = Path(path)
    if not target.exists():
        raise FileNotFoundError(f"file not found: {path}")
    return hashlib.sha256(_stat_key(target.stat()).encode()).hexdigest()[:16]


def dir_metadata_hash(path: str, pattern: str = "*") -> str:
    """Hash ``relative_path:size:mtime_ns:inode`` of every file in ``path`` matching ``pattern``.

    Raises:
        FileNotFoundError: ``path`` is not a directory.
    """
    directory = Path(path)
    if not directory.is_dir():
        raise FileNotFoundError(f"directory not found: {path}")
    lines = [
        f"{entry.relative_to(directory)}:{_stat_key(entry.stat())}"
        for entry in _files(directory, pattern)
    ]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]
