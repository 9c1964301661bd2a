"""Validate merged config documents with pydantic, cheaply.

Validation is pure in the document's bytes, so a document that validated once is remembered by
the SHA-256 of its canonical JSON under ``$XDG_CACHE_HOME/metalab/validated/``. The common case (an
unchanged `.metalab.toml`) then costs one hash and one ``stat`` instead of importing pydantic and
building the models (~0.3 s on small machines). Any change to the document, or to this package's
schema, changes the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from metalab._config import trace
from metalab.errors import ConfigError

SCHEMA_REVISION = "5"


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "metalab" / "validated"


def _cache_key(kind: str, document: Mapping[str, Any]) -> str:
    """Keyed on types as well as values: a TOML date is not the string of its digits."""
    canonical = json.dumps(_typed(document), separators=(",", ":")).encode()
    return hashlib.sha256(f"{kind}:{SCHEMA_REVISION}:".encode() + canonical).hexdigest()


def _typed(value: Any) -> Any:
    """``value`` as JSON that names every scalar's type (``["date", "1979-05-27"]``)."""
    if isinstance(value, Mapping):
        return {"{}": sorted([str(k), _typed(v)] for k, v in value.items())}
    if isinstance(value, list | tuple):
        return {"[]": [_typed(v) for v in value]}
    if value is None or isinstance(value, bool | int | float | str):
        return [type(value).__name__, value]
    return [type(value).__name__, str(value)]


def _remember(key: str) -> None:
    directory = _cache_dir()
    try:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        (directory / key).touch()
    except OSError:
        pass  # a read-only home only costs speed, never correctness


def validate_document(
    kind: str,
    document: Mapping[str, Any],
    validator: Callable[[Mapping[str, Any]], None],
    locate: Callable[[str], str | None],
    prefix: tuple[str, ...] = (),
) -> None:
    """Run ``validator`` unless this exact document validated before.

    ``validator`` raises pydantic's ``ValidationError``; the first error becomes one
    `ConfigError` naming the file (``locate(dotted_key)``), the dotted key and the problem.
    ``prefix`` places ``document`` inside a project document (for "did you mean" hints).
    """
    key = _cache_key(kind, document)
    if (_cache_dir() / key).exists():
        trace.debug("%s config: validated before (cache %s)", kind, key[:12])
        return
    trace.debug("%s config: validating", kind)
    from pydantic import ValidationError

    try:
        validator(document)
    except ValidationError as exc:
        raise _to_config_error(exc, document, locate, prefix) from None
    _remember(key)


def _to_config_error(
    exc: Any,
    document: Mapping[str, Any],
    locate: Callable[[str], str | None],
    prefix: tuple[str, ...],
) -> ConfigError:
    errors = exc.errors()
    # An unknown key first: a misspelt key also makes the key it meant "missing".
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = _clean_loc(error["loc"], document)
    dotted = ".".join(str(part) for part in loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        import difflib

        problem = "unknown key"
        close = difflib.get_close_matches(
            str(loc[-1]), _known_keys(_wrap(prefix, document), prefix + loc), n=1
        )
        if close:
            problem += f" (did you mean '{close[0]}'?)"
    elif kind in ("union_tag_invalid", "union_tag_not_found"):
        dotted = f"{dotted}.type" if dotted else "type"
        ctx = error.get("ctx", {})
        expected = ctx.get("expected_tags", "local, slurm").replace("'", "")
        if kind == "union_tag_not_found":
            problem = f"missing (expected one of: {expected})"
        else:
            problem = f"unknown environment type {ctx.get('tag')!r} (expected one of: {expected})"
    elif kind == "missing":
        problem = "required key is missing"
    else:
        got = _lookup(document, loc)
        shown = repr(got) if len(repr(got)) <= 200 else repr(got)[:200] + "…"
        problem = f"{error['msg'][0].lower()}{error['msg'][1:]} (got {shown})"
    return ConfigError(problem, file=locate(dotted), key=dotted or None)


def _clean_loc(loc: tuple[Any, ...], document: Mapping[str, Any]) -> tuple[Any, ...]:
    """Drop the discriminator tags pydantic inserts into locations of tagged unions."""
    cleaned: list[Any] = []
    node: Any = document
    for part in loc:
        if isinstance(node, Mapping) and part in node:
            cleaned.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            cleaned.append(part)
            node = node[part]
        elif isinstance(node, Mapping) and part in ("local", "slurm"):
            continue
        else:
            cleaned.append(part)
            node = None
    return tuple(cleaned)


def _wrap(prefix: tuple[str, ...], document: Mapping[str, Any]) -> Mapping[str, Any]:
    for part in reversed(prefix):
        document = {part: document}
    return document


def _lookup(document: Mapping[str, Any], loc: tuple[Any, ...]) -> Any:
    node: Any = document
    for part in loc:
        if isinstance(node, Mapping):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            node = node[part]
        else:
            return None
    return node


def _known_keys(document: Mapping[str, Any], loc: tuple[Any, ...]) -> list[str]:
    """The keys valid where ``loc`` points, for "did you mean" hints."""
    from typing import get_args

    from metalab.core import schema

    model: Any = schema.ProjectConfig
    for depth, part in enumerate(loc[:-1]):
        if model is schema.ProjectConfig and part == "environments":
            model = "environments"
        elif model == "environments":
            env_type = _lookup(document, loc[: depth + 1] + ("type",))
            model = schema.SlurmEnvironment if env_type == "slurm" else schema.LocalEnvironment
        elif hasattr(model, "model_fields") and part in model.model_fields:
            annotation = model.model_fields[part].annotation
            candidates = [
                a for a in (annotation, *get_args(annotation)) if hasattr(a, "model_fields")
            ]
            model = candidates[0] if candidates else None
        else:
            return []
    return list(getattr(model, "model_fields", {}))
