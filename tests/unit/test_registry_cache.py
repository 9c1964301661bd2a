"""The registry's read cache: parse once per distinct content, never serve stale content."""

from __future__ import annotations

import os
from pathlib import Path

from metalab_registry.cache import StatCache


def _write_replacing(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def test_the_same_content_rewritten_is_parsed_once(tmp_path: Path) -> None:
    cache: StatCache[str] = StatCache()
    parsed: list[bytes] = []
    path = tmp_path / "bundle.json"

    def parse(raw: bytes) -> str:
        parsed.append(raw)
        return raw.decode()

    for _ in range(5):
        _write_replacing(path, b'{"a": 1}')  # a new inode each time, same bytes
        assert cache.get(path, parse) == '{"a": 1}'
    assert parsed == [b'{"a": 1}']


def test_new_content_of_the_same_size_is_seen_at_once(tmp_path: Path) -> None:
    cache: StatCache[str] = StatCache()
    path = tmp_path / "bundle.json"
    path.write_bytes(b"aaaa")
    assert cache.get(path, bytes.decode) == "aaaa"
    before = path.stat()
    with path.open("r+b") as handle:  # in place: same inode, same size
        handle.write(b"bbbb")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert cache.get(path, bytes.decode) == "bbbb"


def test_a_removed_file_is_none_and_forgotten(tmp_path: Path) -> None:
    cache: StatCache[str] = StatCache()
    path = tmp_path / "bundle.json"
    path.write_bytes(b"x")
    assert cache.get(path, bytes.decode) == "x"
    path.unlink()
    assert cache.get(path, bytes.decode) is None
    path.write_bytes(b"y")
    assert cache.get(path, bytes.decode) == "y"
