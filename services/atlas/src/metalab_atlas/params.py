"""An endpoint's path and query parameters, read from its signature and checked by hand.

A parameter is ``str``, ``int``, ``bool`` or ``list[str]`` (every value of a repeated key); one
without a default is required. The checks and their messages are those the API has always
given (pydantic's lax rules): an int may have surrounding whitespace, a sign, single ``_``
between digits and a ``.0…`` tail; a bool is one of `TRUE`/`FALSE` in any case. Every problem
is reported at once, ``NAME: message`` joined by ``; `` (at most 500 characters), as a
`QueryError` (400).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from starlette.datastructures import QueryParams

from metalab_atlas.query import QueryError

Kind = Literal["str", "int", "bool", "list"]
KINDS: dict[str, Kind] = {"str": "str", "int": "int", "bool": "bool", "list[str]": "list"}
REQUIRED = inspect.Parameter.empty
# Unicode White_Space (what may surround an int); str.strip() would also take \x1c-\x1f
SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680" + "".join(map(chr, range(0x2000, 0x200B)))
SPACE += "\u2028\u2029\u202f\u205f\u3000"
INTEGER = re.compile(r"[+-]?[0-9](?:_?[0-9])*(?:\.0+)?")
TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
FALSE = frozenset({"0", "off", "f", "false", "n", "no"})
NOT_INT = "Input should be a valid integer, unable to parse string as an integer"
NOT_BOOL = "Input should be a valid boolean, unable to interpret input"
MISSING = "Field required"
MAX_MESSAGE = 500


@dataclass(frozen=True)
class Param:
    """One parameter: where it is read from, its kind and its default (`REQUIRED` if none)."""

    name: str
    where: Literal["path", "query"]
    kind: Kind
    default: Any = REQUIRED

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def signature_params(path: str, function: Callable[..., Any]) -> tuple[Param, ...]:
    """The parameters of ``function``: those named in ``path`` come from the path."""
    found: list[Param] = []
    for p in inspect.signature(function).parameters.values():
        kind = KINDS.get(str(p.annotation))
        if kind is None:
            raise TypeError(f"{function.__name__}: parameter {p.name} of unknown type")
        named = "{" + p.name + "}" in path or "{" + p.name + ":" in path
        found.append(Param(p.name, "path" if named else "query", kind, p.default))
    return tuple(found)


def bind(params: tuple[Param, ...], path: Mapping[str, Any], query: QueryParams) -> dict[str, Any]:
    """Keyword arguments for the endpoint; `QueryError` naming every bad parameter."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for p in params:  # path parameters first, as they were always reported
        if p.where == "path":
            values[p.name] = path[p.name]
    for p in params:
        if p.where == "query":
            try:
                values[p.name] = _value(p, query)
            except ValueError as exc:
                problems.append(f"{p.name}: {exc}")
    if problems:
        raise QueryError("; ".join(problems)[:MAX_MESSAGE])
    return values


def _value(p: Param, query: QueryParams) -> Any:
    if p.kind == "list":
        found = query.getlist(p.name)
        if found:
            return found
    elif p.name in query:
        return convert(p.kind, query[p.name])
    if p.required:
        raise ValueError(MISSING)
    return list(p.default) if p.kind == "list" else p.default


def convert(kind: Kind, text: str) -> Any:
    """``text`` as ``kind``; ValueError with the message the client gets."""
    if kind == "int":
        stripped = text.strip(SPACE)
        if not INTEGER.fullmatch(stripped):
            raise ValueError(NOT_INT)
        return int(stripped.partition(".")[0].replace("_", ""))
    if kind == "bool":
        lowered = text.lower()
        if lowered in TRUE:
            return True
        if lowered in FALSE:
            return False
        raise ValueError(NOT_BOOL)
    return text
