"""Parse a config file's TOML, remembering the result: `tomllib` only for bytes not seen before.

The cache maps the SHA-256 of a file's bytes to its document, as JSON, under
``$XDG_CACHE_HOME/metalab/parsed/``. Only documents JSON carries exactly are kept — strings,
integers, floats, booleans, arrays and tables, every key a string — so a document read back has
the very types `tomllib` gave (a TOML date or time, which JSON would make a string, keeps its
document out of the cache). A missing, unreadable or corrupt entry just means parsing again.

The input bounds (`limits`) hold either way: the size is checked before the cache is looked at,
and every document, parsed or read back, is checked by `check_document` before it is returned
(only a document that passed is ever stored).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from metalab.errors import ConfigError

KIND = b"toml:2:"  # part of the key: bump it if the cached form ever changes


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "metalab" / "parsed"


def parse_toml(raw: bytes, path: Path) -> dict[str, Any]:
    """The document in ``raw`` (read from ``path``); `ConfigError` naming ``path`` if invalid
    or beyond the input bounds."""
    from metalab._config.limits import check_document, check_size

    check_size(raw, str(path))
    entry = _cache_dir() / hashlib.sha256(KIND + raw).hexdigest()
    try:
        cached = json.loads(entry.read_bytes())
    except (OSError, ValueError, RecursionError):
        cached = None
    if isinstance(cached, dict):
        check_document(cached, str(path))
        return cached
    document = _parse(raw, path)
    check_document(document, str(path))
    if _exact_in_json(document):
        _remember(entry, document)
    return document


def _parse(raw: bytes, path: Path) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError("not valid UTF-8", file=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {_one_line(str(exc))}", file=str(path)) from exc
    except RecursionError:
        raise ConfigError("invalid TOML: nested too deeply", file=str(path)) from None


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


def _exact_in_json(value: Any) -> bool:
    if isinstance(value, dict):
        return all(isinstance(k, str) and _exact_in_json(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_exact_in_json(v) for v in value)
    return isinstance(value, str | bool | int | float)


def _remember(entry: Path, document: dict[str, Any]) -> None:
    tmp = entry.with_name(f".{entry.name}.{os.getpid()}.tmp")
    try:
        entry.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp.write_text(json.dumps(document))
        os.replace(tmp, entry)
    except OSError:  # a read-only or foreign cache only costs speed, never correctness
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
