"""Config parsing without `tomllib` where it can: the parsed-TOML cache (same document, same
types, same errors and input bounds; dates not cached) and `--set`/``METALAB__*`` values read
as TOML reads them."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metalab._config import parsed
from metalab._config.resolve import _toml_value
from metalab.errors import ConfigError

DOC = b"""
[project]
name = "x"
count = 3
ratio = 1.0
neg = -0.0
big = 1e300
flags = [true, false]
mixed = [1, 2.5, "s", [1], {a = 1}]
"quoted key" = "v"
[environments.local]
type = "local"
"""


def entries() -> list[Path]:
    directory = parsed._cache_dir()
    return sorted(directory.iterdir()) if directory.exists() else []


def same(a: object, b: object) -> bool:
    """Equal values of identical types, all the way down (1 is not 1.0, nor True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return math.copysign(1, a) == math.copysign(1, b) and (a == b or a != a and b != b)
    return a == b


def test_cached_document_has_tomllib_types(tmp_path: Path) -> None:
    first = parsed.parse_toml(DOC, tmp_path / "c.toml")
    assert len(entries()) == 1
    second = parsed.parse_toml(DOC, tmp_path / "c.toml")
    assert same(first, tomllib.loads(DOC.decode())) and same(second, first)


def test_dates_are_not_cached(tmp_path: Path) -> None:
    raw = b"[project]\nwhen = 2026-12-05\n"
    assert parsed.parse_toml(raw, tmp_path / "c.toml") == tomllib.loads(raw.decode())
    assert entries() == []


def test_corrupt_entry_parses_again(tmp_path: Path) -> None:
    parsed.parse_toml(DOC, tmp_path / "c.toml")
    (entry,) = entries()
    entry.write_text("{not json")
    assert same(parsed.parse_toml(DOC, tmp_path / "c.toml"), tomllib.loads(DOC.decode()))


@pytest.mark.parametrize(
    ("raw", "message"), [(b"[project\n", "invalid TOML: "), (b"\xff", "not valid UTF-8")]
)
def test_errors_name_the_file_and_are_not_cached(tmp_path: Path, raw: bytes, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parsed.parse_toml(raw, tmp_path / "bad.toml")
    assert message in str(caught.value) and "bad.toml" in str(caught.value)
    assert entries() == []


def test_bounds_hold_before_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = b"[project]\nname = 'x'\n"
    monkeypatch.setattr("metalab._config.limits.MAX_FILE_BYTES", len(raw) - 1)
    with pytest.raises(ConfigError, match="file too large"):
        parsed.parse_toml(raw, tmp_path / "c.toml")
    assert entries() == []


@pytest.mark.parametrize(
    "raw",
    [
        b"[project]\nbig = inf\n",
        b'[project]\nname = "a\\u0000b"\n',
        b"a = " + b"[" * 40 + b"]" * 40,
    ],
)
def test_documents_past_the_bounds_are_refused_and_not_cached(tmp_path: Path, raw: bytes) -> None:
    with pytest.raises(ConfigError):
        parsed.parse_toml(raw, tmp_path / "c.toml")
    assert entries() == []


def test_a_cached_document_past_the_bounds_is_refused(tmp_path: Path) -> None:
    """A planted (or older) cache entry cannot carry a document the bounds refuse."""
    raw = b"[project]\nname = 'x'\n"
    parsed.parse_toml(raw, tmp_path / "c.toml")
    (entry,) = entries()
    entry.write_text('{"project": {"name": "a\\u0000b"}}')
    with pytest.raises(ConfigError, match="NUL"):
        parsed.parse_toml(raw, tmp_path / "c.toml")


def toml_reference(raw: str) -> object:
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="abcXYZ019_-.+ \"'[]{}:=,#éinftruesal", max_size=8))
def test_override_values_read_as_tomllib_reads_them(raw: str) -> None:
    expected = toml_reference(raw)
    got = _toml_value(raw)
    assert same(got, expected) or (got != got and expected != expected)


@pytest.mark.parametrize(
    "raw", ["metalab", "scram-sha-256", "true", "inf", "nan", "5433", "0", "012", "1_000", "x y"]
)
def test_override_values_examples(raw: str) -> None:
    assert same(_toml_value(raw), toml_reference(raw))
