"""Context specs: the protocol, the ``context_spec`` decorator and the typed JSON form.

:func:`serialize_context_spec` writes dataclasses as ``{"__type__": "<module>.<qualname>",
<fields>...}`` (recursively; lists and tuples as lists, other non-JSON values as ``str()``),
and :func:`deserialize_context_spec` imports those types back. This form travels to remote
workers and its hash is a spec's ``fingerprint``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol, TypeVar, dataclass_transform, overload, runtime_checkable

__all__ = [
    "ContextSpec",
    "FrozenContext",
    "context_spec",
    "deserialize_context_spec",
    "serialize_context_spec",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_TYPE_KEY = "__type__"

FrozenContext = Any
"""The type operations receive as ``context``: the spec object itself."""


@runtime_checkable
class ContextSpec(Protocol):
    """Marker protocol for context specs (any serializable object qualifies).

    Recommended: a class decorated with :func:`context_spec`; plain dicts work too. Use
    ``metalab.FilePath``/``DirPath`` fields for files whose identity should count.
    """


def serialize_context_spec(obj: Any) -> Any:
    """Return a JSON-compatible form of ``obj`` that keeps dataclass types (``__type__``)."""
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (list, tuple)):
        return [serialize_context_spec(item) for item in obj]
    if isinstance(obj, dict):
        return {key: serialize_context_spec(value) for key, value in obj.items()}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        cls = type(obj)
        fields = {
            f.name: serialize_context_spec(getattr(obj, f.name)) for f in dataclasses.fields(obj)
        }
        return {_TYPE_KEY: f"{cls.__module__}.{cls.__qualname__}", **fields}
    return str(obj)


def _rebuild(type_path: str, fields: dict[str, Any]) -> Any:
    module_name, _, class_name = type_path.rpartition(".")
    try:
        if not module_name:
            raise ImportError(f"no module in type name {type_path!r}")
        cls = getattr(importlib.import_module(module_name), class_name)
        return cls(**fields)
    except (ImportError, AttributeError) as exc:
        logger.warning(f"Could not reconstruct type {type_path}: {exc}")
        return fields


def deserialize_context_spec(obj: Any) -> Any:
    """Invert :func:`serialize_context_spec`, importing each ``__type__`` and calling it.

    A type that cannot be imported is logged and left as a plain dict of its fields.
    """
    if isinstance(obj, list):
        return [deserialize_context_spec(item) for item in obj]
    if not isinstance(obj, dict):
        return obj
    fields = {
        key: deserialize_context_spec(value) for key, value in obj.items() if key != _TYPE_KEY
    }
    if _TYPE_KEY not in obj:
        return fields
    return _rebuild(obj[_TYPE_KEY], fields)


def _spec_fingerprint(spec: Any) -> str:
    text = json.dumps(serialize_context_spec(spec), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _fingerprint_property(self: Any) -> str:
    """Hash of the spec's serialized fields (16 hex digits)."""
    return _spec_fingerprint(self)


@overload
def context_spec(cls: type[T]) -> type[T]: ...
@overload
def context_spec(*, frozen: bool = True) -> Callable[[type[T]], type[T]]: ...


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def context_spec(
    cls: type[T] | None = None, *, frozen: bool = True
) -> type[T] | Callable[[type[T]], type[T]]:
    """Make a class a context spec: a (frozen by default) dataclass with ``.fingerprint``.

    Usable bare (``@context_spec``) or called (``@context_spec(frozen=False)``). A class that
    already is a dataclass keeps its own dataclass settings.
    """

    def decorate(target: type[T]) -> type[T]:
        if not dataclasses.is_dataclass(target):
            target = dataclasses.dataclass(frozen=frozen)(target)
        target.fingerprint = property(_fingerprint_property)  # type: ignore[attr-defined]
        return target

    return decorate if cls is None else decorate(cls)
