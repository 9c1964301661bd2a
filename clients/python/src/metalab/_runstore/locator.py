"""Store locators: parse the ``store=`` argument of `metalab.run()` into a `StoreConfig`.

===========================  =====================================================
``None``                     FileStore at ``./experiments/`` (``{experiment_id}/`` inside)
``"runs/"`` / ``file://…``   FileStore at that path
``"postgresql://…"``         PostgresStore; ``?file_root=`` for artifacts and logs
``"discover"``               the nearest service bundle's ``store_locator``
a `StoreConfig`              used as is
===========================  =====================================================

Parsing is pure (no I/O) except for ``discover``; every bad input raises one-line `StoreError`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from metalab._runstore.base import StoreConfig
from metalab._runstore.file import FileStoreConfig
from metalab._runstore.pgconfig import PostgresStoreConfig
from metalab.core.redact import redact_locator
from metalab.errors import StoreError

log = logging.getLogger("metalab._runstore")

DEFAULT_ROOT = "experiments"
PG_SCHEMES = ("postgresql", "postgres")


def has_password(locator: str) -> bool:
    """True when the locator carries a password (in the userinfo or the query)."""
    try:
        parts = urlsplit(locator)
    except ValueError:
        return False
    if parts.scheme.lower() not in PG_SCHEMES:
        return False
    userinfo = parts.netloc.rpartition("@")[0] if "@" in parts.netloc else ""
    query = parse_qsl(parts.query, keep_blank_values=True)
    return ":" in userinfo or any("password" in k.lower() for k, _ in query)


def parse_locator(locator: str, base_dir: Path | None = None) -> StoreConfig:
    """Parse a locator string (not ``discover``) into a store config."""
    if not isinstance(locator, str):
        raise StoreError(f"store locator must be a string (got {type(locator).__name__})")
    text = locator.strip()
    if not text:
        raise StoreError("store locator is empty")
    if "\x00" in text:
        raise StoreError("store locator contains a NUL character")
    base = base_dir or Path.cwd()
    scheme, sep, _ = text.partition("://")
    if not sep or "/" in scheme or "\\" in scheme:
        return FileStoreConfig(str(_absolute(_expand(text), base)))
    scheme = scheme.lower()
    if scheme == "file":
        return _parse_file(text, base)
    if scheme in PG_SCHEMES:
        return _parse_postgres(text, base)
    shown = scheme if len(scheme) <= 20 else scheme[:20] + "…"
    raise StoreError(
        f"unsupported store scheme {shown!r} in {redact_locator(text)!r} "
        "(expected a path, file://PATH or postgresql://…?file_root=PATH)"
    )


def _expand(text: str) -> Path:
    """``~`` expanded when it names a known home; an unknown ``~user`` stays literal."""
    return Path(os.path.expanduser(text))


def _absolute(path: Path, base: Path) -> Path:
    joined = path if path.is_absolute() else base / path
    return Path(*joined.parts)  # normalise separators without touching the filesystem


def _parse_file(text: str, base: Path) -> FileStoreConfig:
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise StoreError(f"invalid file locator {text!r}: {exc}") from None
    if parts.netloc not in ("", "localhost"):
        raise StoreError(f"file locator {text!r} names host {parts.netloc!r}; only local paths")
    path = unquote(parts.path)
    if not path:
        raise StoreError(f"file locator {text!r} has no path")
    return FileStoreConfig(str(_absolute(Path(path), base)))


def _parse_postgres(text: str, base: Path) -> PostgresStoreConfig:
    shown = redact_locator(text)
    try:
        parts = urlsplit(text)
        _ = parts.port  # validates the port
        host = parts.hostname
    except ValueError as exc:
        raise StoreError(f"invalid PostgreSQL locator {shown!r}: {exc}") from None
    if not parts.netloc and "host=" not in parts.query:
        raise StoreError(f"PostgreSQL locator {shown!r} names no host")
    if parts.netloc and not host and "host=" not in parts.query:
        raise StoreError(f"PostgreSQL locator {shown!r} names no host")
    query = parse_qsl(parts.query, keep_blank_values=True)
    roots = [v for k, v in query if k == "file_root"]
    rest = [(k, v) for k, v in query if k != "file_root"]
    if len(roots) > 1:
        raise StoreError(f"PostgreSQL locator {shown!r} has more than one file_root")
    if roots and not roots[0]:
        raise StoreError(f"PostgreSQL locator {shown!r} has an empty file_root")
    if roots:
        file_root = str(_absolute(_expand(roots[0]), base))
    else:
        file_root = str(_absolute(Path(DEFAULT_ROOT), base))
        log.warning(
            "PostgreSQL locator %s has no file_root; artifacts and logs go to %s", shown, file_root
        )
    dsn = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(rest, quote_via=quote), ""))
    return PostgresStoreConfig(dsn=dsn, file_root=file_root)


def resolve_store(store: Any, base_dir: Path | None = None) -> StoreConfig:
    """The `StoreConfig` for any accepted ``store=`` value (see the module docstring)."""
    base = base_dir or Path.cwd()
    if store is None:
        return FileStoreConfig(str(_absolute(Path(DEFAULT_ROOT), base)))
    if isinstance(store, Path):
        return FileStoreConfig(str(_absolute(_expand(str(store)), base)))
    if isinstance(store, str):
        if store.strip() == "discover":
            return discover_store(base)
        return parse_locator(store, base)
    if isinstance(store, FileStoreConfig | PostgresStoreConfig):
        return store
    if hasattr(store, "open") and hasattr(store, "describe") and hasattr(store, "to_json"):
        return store  # type: ignore[no-any-return]
    raise StoreError(
        f"store must be None, a path, a locator string, 'discover' or a StoreConfig "
        f"(got {type(store).__name__})"
    )


def discover_store(base: Path | None = None, env_name: str | None = None) -> StoreConfig:
    """The store of the nearest service bundle (``env_name``: that environment's bundle)."""
    from metalab._config.discover import discover_for_project
    from metalab.errors import BundleError, BundleNotFound, ConfigError

    try:
        found = discover_for_project(base, env_name)
    except (BundleNotFound, BundleError, ConfigError) as exc:
        raise StoreError(f"store='discover': {exc}") from exc
    if found.store_locator.strip() == "discover":
        raise StoreError(f"{found.path}: store_locator is 'discover' (refusing to loop)")
    log.info("discovered store from %s", found.path)
    return parse_locator(found.store_locator, found.path.parent.parent)


def store_config_from_json(data: dict[str, Any]) -> StoreConfig:
    """Inverse of ``StoreConfig.to_json()`` (what task payloads carry)."""
    kind = data.get("kind")
    if kind == "file":
        return FileStoreConfig(str(data["root"]))
    if kind == "postgres":
        return PostgresStoreConfig(dsn=str(data["dsn"]), file_root=str(data["file_root"]))
    raise StoreError(f"unknown store kind {kind!r} in payload")
