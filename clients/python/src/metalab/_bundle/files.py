"""Where bundle.json lives, and reading/writing it safely (no gRPC needed)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from metalab._fs import write_atomic
from metalab.errors import BundleError

SCHEMA_VERSION = 1
BUNDLE_NAME = "bundle.json"

Bundle = dict[str, Any]


def home_services_dir() -> Path:
    """``~/.metalab/services`` (``METALAB_HOME`` replaces ``~/.metalab``)."""
    root = os.environ.get("METALAB_HOME") or str(Path.home() / ".metalab")
    return Path(root) / "services"


def bundle_path(project: str, environment: str, file_root: str | None) -> Path:
    """``{file_root}/services/bundle.json``, else ``~/.metalab/services/{project}/{env}/``."""
    if file_root:
        return Path(file_root) / "services" / BUNDLE_NAME
    return home_services_dir() / project / environment / BUNDLE_NAME


def read_bundle(path: Path) -> Bundle | None:
    """The bundle at ``path``; None when absent; `BundleError` when corrupt or foreign."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise BundleError(f"{path}: cannot read bundle: {exc.strerror}") from exc
    return parse_bundle(path, raw)


def parse_bundle(path: Path, raw: bytes) -> Bundle:
    """The bundle in ``raw`` (read from ``path``); `BundleError` when corrupt or foreign."""
    try:
        bundle = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(
            f"{path}: corrupt bundle ({exc}); run `metalab services down` or delete it"
        ) from exc
    if not isinstance(bundle, dict):
        raise BundleError(f"{path}: corrupt bundle (not a JSON object)")
    version = bundle.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(
            f"{path}: bundle schema_version {version!r} is not supported "
            f"(this metalab reads version {SCHEMA_VERSION})"
        )
    return bundle


def write_bundle(path: Path, bundle: Bundle) -> None:
    """Write atomically with mode 0600 from birth."""
    data = json.dumps({**bundle, "schema_version": SCHEMA_VERSION}, indent=2, sort_keys=True)
    write_atomic(path, data.encode() + b"\n")


def delete_bundle(path: Path) -> bool:
    """Remove the bundle; True when one was removed."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
