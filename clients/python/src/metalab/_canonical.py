"""Canonical JSON and fingerprints: the byte-exact identity encoding run ids are built from.

The encoding is part of the on-disk contract (run ids, case ids and fingerprints in existing
stores are derived from it), so every rule below is fixed:

* dict keys are stringified and sorted; lists and tuples keep their order;
* sets and frozensets become sorted lists (of their encoded items);
* floats are encoded as the *string* ``repr(value)`` so no precision is lost; NaN and
  infinities are refused;
* bytes become ``{"__bytes__": "<hex>"}``;
* dataclass instances encode as their ``dataclasses.asdict`` dict, other objects with a
  ``__dict__`` as their ``vars()``;
* the JSON text is compact (``","`` and ``":"`` separators) with ASCII escapes.

A fingerprint is the first 16 hex digits of the SHA-256 of that text.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any

__all__ = ["CanonicalizeError", "canonical", "fingerprint"]


class CanonicalizeError(Exception):
    """A value has no canonical form (NaN, infinity, or an unsupported type)."""


def _float_form(value: float) -> str:
    if math.isnan(value):
        raise CanonicalizeError("NaN not allowed in canonical params")
    if math.isinf(value):
        raise CanonicalizeError("Inf not allowed in canonical params")
    return repr(value)


def _encode(value: Any) -> Any:
    """Map ``value`` onto plain JSON data following the module's rules."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return _float_form(value)
    if isinstance(value, bytes):
        return {"__bytes__": value.hex()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_encode(item) for item in value)
    if isinstance(value, dict):
        return {str(key): _encode(value[key]) for key in sorted(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _encode(dataclasses.asdict(value))
    if hasattr(value, "__dict__"):
        return _encode(vars(value))
    raise CanonicalizeError(f"Cannot canonicalize type: {type(value).__name__}")


def canonical(obj: Any) -> str:
    """Return the canonical JSON text of ``obj``; equal inputs always give equal text.

    Raises:
        CanonicalizeError: ``obj`` holds NaN, an infinity or a type with no canonical form.
    """
    return json.dumps(_encode(obj), sort_keys=True, separators=(",", ":"))


def fingerprint(obj: Any) -> str:
    """Return the 16-hex-digit SHA-256 fingerprint of ``canonical(obj)``.

    Raises:
        CanonicalizeError: as :func:`canonical`.
    """
    return hashlib.sha256(canonical(obj).encode("utf-8")).hexdigest()[:16]
