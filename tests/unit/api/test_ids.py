"""Run identity: run ids, component fingerprints, file hashes and lazy FilePath/DirPath.

Golden values were produced by upstream metalab for the same inputs.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from metalab._ids import (
    DirHash,
    DirPath,
    FileHash,
    FilePath,
    Fingerprintable,
    compute_run_id,
    dir_hash,
    file_hash,
    fingerprint_context,
    fingerprint_params,
    fingerprint_seeds,
    resolve_context,
)
from metalab.seeds import SeedBundle


def test_run_id_matches_upstream() -> None:
    assert compute_run_id("test:1.0", "ctx", "params", "seed") == "a7c0f76890205cfb"
    assert compute_run_id("test:1.0", "ctx", "params", "seed", code_fp="abc") == "5fda3f8a9feb5f80"


def test_run_id_depends_on_every_component() -> None:
    base = ("e:1", "c", "p", "s")
    ids = {compute_run_id(*base)}
    for i in range(4):
        changed = list(base)
        changed[i] += "x"
        ids.add(compute_run_id(*changed))
    ids.add(compute_run_id(*base, code_fp=""))
    assert len(ids) == 6


def test_seed_fingerprints_match_upstream() -> None:
    assert fingerprint_seeds(SeedBundle(42, 0)) == "00ccca107734f362"
    assert fingerprint_seeds(SeedBundle(42)) == "81648078fe065553"
    assert fingerprint_seeds(SeedBundle(7, 3)) == "2c1c1cf238a5f02e"


def test_params_and_context_fingerprints_match_upstream() -> None:
    assert fingerprint_params({"b": 2, "a": "x", "c": 0.5}) == "0e0193694e2408e1"
    assert fingerprint_context({"dataset": "train.csv", "version": "1.0"}) == "8f88c43e9684a00e"


def test_content_hashes_match_upstream(tmp_path: Path) -> None:
    (tmp_path / "f.txt").write_bytes(b"hello world")
    data = tmp_path / "d"
    data.mkdir()
    (data / "a.txt").write_bytes(b"aaa")
    (data / "b.txt").write_bytes(b"bbb")
    assert file_hash(tmp_path / "f.txt") == "b94d27b9934d3e08"
    assert file_hash(str(tmp_path / "f.txt"), algorithm="md5") == "5eb63bbbe01eeed0"
    assert dir_hash(data) == "0cd5eb8799656108"
    assert dir_hash(data, pattern="a*") == "015a30ecda452c07"


def test_content_hash_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        file_hash(tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="Directory not found"):
        dir_hash(tmp_path / "missing")


def _meta(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_ino}"


def _sha16(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def test_file_path_hashes_metadata_lazily(tmp_path: Path) -> None:
    target = tmp_path / "late.bin"
    marker = FilePath(target)  # type: ignore[arg-type]
    assert marker.path == str(target)
    assert isinstance(marker, Fingerprintable)
    with pytest.raises(FileNotFoundError, match="file not found"):
        marker.fingerprint_payload()
    target.write_bytes(b"x" * 10)
    assert marker.fingerprint_payload() == {"hash": _sha16(_meta(target))}
    assert FilePath(str(target), hash_path=True).fingerprint_payload() == {
        "hash": _sha16(_meta(target)),
        "path": str(target),
    }


def test_dir_path_hashes_relative_paths_and_metadata(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("b.txt", "a.csv", "sub/c.txt"):
        (tmp_path / name).write_text(name)
    lines = [f"{name}:{_meta(tmp_path / name)}" for name in ("a.csv", "b.txt")]
    assert DirPath(str(tmp_path)).fingerprint_payload() == {"hash": _sha16("\n".join(lines))}
    nested = DirPath(str(tmp_path), pattern="**/*.txt", hash_path=True).fingerprint_payload()
    lines = [f"{name}:{_meta(tmp_path / name)}" for name in ("b.txt", "sub/c.txt")]
    assert nested == {
        "hash": _sha16("\n".join(lines)),
        "path": str(tmp_path),
        "pattern": "**/*.txt",
    }
    with pytest.raises(FileNotFoundError, match="directory not found"):
        DirPath(str(tmp_path / "nope")).fingerprint_payload()


def test_markers_behave_like_paths() -> None:
    marker = FilePath("/data/x.csv")
    assert str(marker) == os.fspath(marker) == "/data/x.csv"
    assert Path(DirPath("/data")) == Path("/data")
    assert repr(marker) == "FilePath('/data/x.csv')"
    assert repr(FilePath("x", hash_path=True)) == "FilePath('x', hash_path=True)"
    assert (
        repr(DirPath("y", "*.c", hash_path=True)) == "DirPath('y', pattern='*.c', hash_path=True)"
    )
    assert FileHash is FilePath and DirHash is DirPath


@dataclass(frozen=True)
class _Marker:
    value: str

    def fingerprint_payload(self) -> dict[str, Any]:
        return {"v": self.value.upper()}


@dataclass(frozen=True)
class _Spec:
    marker: _Marker
    items: tuple[Any, ...]


def test_resolve_context_walks_containers_and_records_payloads() -> None:
    spec = {"spec": _Spec(_Marker("a"), (1, _Marker("b"))), "n": 3}
    resolved, manifest = resolve_context(spec)
    assert resolved == {"spec": {"marker": {"v": "A"}, "items": [1, {"v": "B"}]}, "n": 3}
    assert manifest == {
        "context.spec.marker": {"type": "_Marker", "v": "A"},
        "context.spec.items[1]": {"type": "_Marker", "v": "B"},
    }
    assert fingerprint_context(spec) == fingerprint_params(resolved)


def test_resolve_context_names_the_missing_file(tmp_path: Path) -> None:
    spec = {"inputs": [FilePath(str(tmp_path / "gone.csv"))]}
    with pytest.raises(FileNotFoundError, match=r"^context\.inputs\[0\]: file not found: "):
        fingerprint_context(spec)
