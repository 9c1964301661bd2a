"""The bundle's typed model: what a ``bundle.json`` may hold, checked field by field.

A bundle is untrusted input (another process may have written it), so every reader validates it
with `BundleModel.from_dict` before using it: a wrong shape (``services`` as a list, ``pid:
"abc"``, a port out of range, a name with a ``/``) is one `BundleError` line naming the field.
Unknown keys are kept as they are (a newer metalab may add some).

The model is typed named tuples with hand-written checks rather than pydantic (or dataclasses):
the warm ``services up`` reads a bundle on every call and must not pay pydantic's import
(~35 ms); named tuples cost ~0.2 ms to define where frozen dataclasses cost ~1 ms each.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, NamedTuple

from metalab.core.errors import BundleError, ConfigError

# Names that become path components (project, environment) or keys of ``services``: 1 to 100
# characters, none of them "/", "\\", NUL or another control character, not starting with "."
# or a space (so never "", "." or "..") and not ending with a space. A project named after its
# directory ("my project (v2)") stays valid.
Bundle = dict[str, Any]  # a bundle as its JSON reads; `BundleModel` is its checked form
_SAFE_NAME = re.compile(r"[^./\\\x00-\x1f\x7f\s][^/\\\x00-\x1f\x7f]{0,99}")
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


def is_safe_name(value: str) -> bool:
    return bool(_SAFE_NAME.fullmatch(value)) and value == value.strip()


def check_name(value: str, what: str) -> str:
    """``value`` when it is usable as a path component; `ConfigError` (one line) otherwise."""
    if not is_safe_name(value):
        shown = value if len(value) <= 60 else value[:60] + "…"
        raise ConfigError(
            f"{shown!r} is not a safe {what} name: at most 100 characters, no '/', '\\', NUL "
            "or control characters, not starting with '.' or a space"
        )
    return value


class _Shape(Exception):
    """A field of the bundle has the wrong type or value (turned into one `BundleError`)."""


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Shape(f"{where}{key} must be a string, not {_kind(value)}")
    if "\0" in value:
        raise _Shape(f"{where}{key} holds a NUL character")
    return value


def _int(data: Mapping[str, Any], key: str, where: str, high: int, low: int = 0) -> int:
    value = data.get(key)
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Shape(f"{where}{key} must be an integer, not {_kind(value)}")
    if not low <= value <= high:
        raise _Shape(f"{where}{key} {value} is out of range ({low}..{high})")
    return value


def _kind(value: object) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), type(value).__name__
    )


def _or(value: object, default: object) -> object:
    return default if value is None else value


def _object(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise _Shape(f"{where} must be an object, not {_kind(value)}")
    return value


class ServiceRecord(NamedTuple):
    """One service of a bundle (the proto's ``ServiceHandle``)."""

    host: str = ""
    port: int = 0
    url: str = ""
    pid: int = 0
    pgid: int = 0
    start_time: int = 0
    job_id: str = ""
    started_at: str = ""
    log_path: str = ""
    data_dir: str = ""
    secret_ref: str = ""
    socket_dir: str = ""
    passfile: str = ""
    database: str = ""
    user: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "") -> ServiceRecord:
        """Validate one service entry; raises `BundleError` naming the field that is wrong."""
        try:
            return cls._build(data, where)
        except _Shape as exc:
            raise BundleError(f"invalid bundle: {exc}") from None

    @classmethod
    def _build(cls, data: Mapping[str, Any], where: str) -> ServiceRecord:
        limits = {"port": 65535, "pid": INT32_MAX, "pgid": INT32_MAX, "start_time": INT64_MAX}
        values: dict[str, Any] = {}
        for name in cls._fields:
            if name in limits:
                values[name] = _int(data, name, where, limits[name])
            else:
                values[name] = _str(data, name, where)
        return cls(**values)


class TunnelTarget(NamedTuple):
    service: str = ""
    host: str = ""
    port: int = 0
    scheme: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> TunnelTarget:
        return cls(
            service=_str(data, "service", where),
            host=_str(data, "host", where),
            port=_int(data, "port", where, 65535),
            scheme=_str(data, "scheme", where),
        )


_TEXT_FIELDS = (
    "profile",
    "owner",
    "store_locator",
    "created_at",
    "expires_at",
    "nonce",
    "job_id",
    "file_root",
    "state",
    "project_dir",
)


class BundleModel(NamedTuple):
    """A validated bundle (the content of ``bundle.json``)."""

    schema_version: int
    project: str
    environment: str
    services: Mapping[str, ServiceRecord]
    tunnel_targets: tuple[TunnelTarget, ...]
    text: Mapping[str, str]  # the string fields of `_TEXT_FIELDS`

    @classmethod
    def from_dict(cls, data: object) -> BundleModel:
        """Validate ``data``; raises `BundleError` naming the first field that is wrong."""
        try:
            return cls._build(data)
        except _Shape as exc:
            raise BundleError(f"invalid bundle: {exc}") from None

    @classmethod
    def _build(cls, data: object) -> BundleModel:
        top = _object(data, "the bundle")
        services_raw = _object(_or(top.get("services"), {}), "services")
        services = {}
        for name, entry in services_raw.items():
            if not is_safe_name(name):
                raise _Shape(f"services: {name[:60]!r} is not a service name")
            services[name] = ServiceRecord._build(
                _object(entry, f"services.{name}"), f"services.{name}."
            )
        targets_raw = _or(top.get("tunnel_targets"), [])
        if not isinstance(targets_raw, list):
            raise _Shape(f"tunnel_targets must be a list, not {_kind(targets_raw)}")
        targets = tuple(
            TunnelTarget.from_dict(_object(t, f"tunnel_targets[{i}]"), f"tunnel_targets[{i}].")
            for i, t in enumerate(targets_raw)
        )
        names = {}
        for key in ("project", "environment"):
            value = _str(top, key, "")
            if not value:
                raise _Shape(f"{key} is missing")
            if not is_safe_name(value):
                raise _Shape(f"{key} {value[:60]!r} is not a safe name")
            names[key] = value
        return cls(
            schema_version=_int(top, "schema_version", "", INT32_MAX),
            project=names["project"],
            environment=names["environment"],
            services=services,
            tunnel_targets=targets,
            text={key: _str(top, key, "") for key in _TEXT_FIELDS},
        )
