"""Find and read the project config files and merge them, remembering where each value came from."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, NamedTuple

from metalab.errors import ConfigError

CONFIG_NAME = ".metalab.toml"
LOCAL_CONFIG_NAME = ".metalab.local.toml"

Origins = dict[str, str]


class ConfigFiles(NamedTuple):
    """The base config file, its optional local override, and their raw parsed documents."""

    base_path: Path | None
    local_path: Path | None
    base: dict[str, Any]
    local: dict[str, Any]
    base_bytes: bytes = b""
    local_bytes: bytes = b""

    @property
    def project_dir(self) -> Path | None:
        return self.base_path.parent if self.base_path else None


def find_config(start: Path) -> Path | None:
    """Walk up from ``start`` to the nearest `.metalab.toml`."""
    current = start.resolve()
    for directory in (current, *current.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def _read_toml(path: Path) -> tuple[dict[str, Any], bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    from metalab._config.parsed import parse_toml

    return parse_toml(raw, path), raw


def load_files(start: Path | None = None) -> ConfigFiles:
    """Load `.metalab.toml` (walking up from ``start``) and `.metalab.local.toml` beside it."""
    explicit = os.environ.get("METALAB_CONFIG")
    base_path = Path(explicit) if explicit else find_config(start or Path.cwd())
    if base_path is None:
        return ConfigFiles(None, None, {}, {})
    base, base_bytes = _read_toml(base_path)
    local_path = base_path.parent / LOCAL_CONFIG_NAME
    if not local_path.is_file():
        return ConfigFiles(base_path, None, base, {}, base_bytes, b"")
    local, local_bytes = _read_toml(local_path)
    return ConfigFiles(base_path, local_path, base, local, base_bytes, local_bytes)


def deep_merge(
    base: dict[str, Any],
    override: dict[str, Any],
    origins: Origins | None = None,
    origin: str = "",
    prefix: str = "",
) -> dict[str, Any]:
    """Return ``base`` with ``override`` merged in (tables merge, other values replace).

    When ``origins`` is given, every leaf taken from ``override`` is recorded under its dotted key.
    """
    merged = dict(base)
    for key, value in override.items():
        dotted = f"{prefix}{key}"
        current = merged.get(key)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[key] = deep_merge(current, value, origins, origin, dotted + ".")
        else:
            merged[key] = value
            if origins is not None:
                _record(origins, dotted, value, origin)
    return merged


def _record(origins: Origins, dotted: str, value: Any, origin: str) -> None:
    for key in [k for k in origins if k == dotted or k.startswith(dotted + ".")]:
        del origins[key]
    if isinstance(value, dict):
        for sub_key, sub_value in value.items():
            _record(origins, f"{dotted}.{sub_key}", sub_value, origin)
    else:
        origins[dotted] = origin


def nest(dotted: str, value: Any) -> dict[str, Any]:
    """Turn ``a.b.c`` and a value into ``{"a": {"b": {"c": value}}}``."""
    nested: dict[str, Any] = {}
    node = nested
    keys = dotted.split(".")
    for key in keys[:-1]:
        node = node.setdefault(key, {})
    node[keys[-1]] = value
    return nested
