"""Bounds on a parsed config document, checked before anything walks it recursively.

`.metalab.toml`, `.metalab.local.toml` and `settings.yaml` are files anyone may hand us (a
cloned repository, a shared home). A document deeper, larger or stranger than any real config
is refused in one `ConfigError` line, never a ``RecursionError``, a hang or a huge message:
the walk is iterative and has a budget, so a YAML alias bomb (shared nodes visited again and
again) stops after ``MAX_NODES`` visits, as a cycle stops at ``MAX_DEPTH``.
"""

from __future__ import annotations

import math
from typing import Any

from metalab.errors import ConfigError

MAX_FILE_BYTES = 1 << 20  # 1 MiB: far above any real config
MAX_DEPTH = 32  # tables/lists within each other
MAX_NODES = 100_000  # values visited, a shared (aliased) value once per reference
MAX_STRING = 16_384  # characters of one key or string value


def check_size(raw: bytes | str, file: str) -> None:
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"file too large ({len(raw):,} > {MAX_FILE_BYTES:,} bytes)", file=file)


def check_document(document: Any, file: str | None) -> None:
    """Refuse nesting deeper than ``MAX_DEPTH``, more than ``MAX_NODES`` values, long or
    NUL-bearing keys and strings, and non-finite numbers; the error names the dotted key."""
    stack: list[tuple[Any, str, int]] = [(document, "", 0)]
    visited = 0
    while stack:
        value, key, depth = stack.pop()
        visited += 1
        if visited > MAX_NODES:
            raise ConfigError(f"too many values (more than {MAX_NODES:,})", file=file)
        if depth > MAX_DEPTH:
            raise ConfigError(f"nested too deeply (more than {MAX_DEPTH} levels)", file=file)
        if isinstance(value, dict):
            for sub_key, sub_value in value.items():
                if not isinstance(sub_key, str):
                    raise ConfigError(
                        f"keys must be strings (got {type(sub_key).__name__})", file=file, key=key
                    )
                _check_string(sub_key, file, key, "key")
                stack.append((sub_value, f"{key}.{sub_key}" if key else sub_key, depth + 1))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((item, f"{key}.{index}" if key else str(index), depth + 1))
        elif isinstance(value, str):
            _check_string(value, file, key, "value")
        elif isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"must be a finite number (got {value!r})", file=file, key=key)


def _check_string(text: str, file: str | None, key: str, what: str) -> None:
    if len(text) > MAX_STRING:
        raise ConfigError(
            f"{what} too long ({len(text):,} > {MAX_STRING:,} characters)",
            file=file,
            key=_short(key),
        )
    if "\0" in text:
        raise ConfigError(f"{what} contains a NUL character", file=file, key=_short(key))


def _short(key: str) -> str | None:
    """A dotted key fit for a one-line message (a long key is cut, never echoed whole)."""
    if not key:
        return None
    return key if len(key) <= 200 else key[:200] + "…"
