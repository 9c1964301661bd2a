"""The runs-table query: fields, filters, sort and page, parsed and validated once.

Field names come from the client as data. They are checked against the fields an experiment
actually has (core columns, ``params.*``, ``metrics.*``) and are never turned into SQL text.

Ordering is the same in every store: numbers numerically, then other values as text (byte
order), then missing values (absent, null, non-finite, a failed run's metric) — last in both
directions; ties are broken by ``run_id``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from metalab.core.errors import MetalabError

NUMERIC_CORE = ("seed", "attempt", "duration_s")
TEXT_CORE = ("run_id", "status", "host", "error", "created_at", "started_at", "finished_at")
CORE_FIELDS = TEXT_CORE + NUMERIC_CORE
OPS = ("eq", "lt", "gt", "contains")
MAX_LIMIT = 500
MAX_OFFSET = 10**9
MAX_FILTERS = 20  # `where=` per request (docs/atlas.md)
MAX_TEXT = 1024  # characters of one filter, search, sort or field name
MAX_QUERY_STRING = 16 * 1024  # bytes of a request's query string
NON_FINITE = frozenset({"NaN", "Infinity", "-Infinity"})
EXPERIMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
EXPERIMENT_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")  # also upstream's name:version
STORE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")  # a nested store's key
RUN_ID = re.compile(r"[0-9a-f]{16}(?:[0-9a-f]{4})?")  # upstream's 16 hex, the project's 20

Kind = Literal["core_text", "core_num", "params", "metrics"]


class QueryError(MetalabError):
    """A bad query from the client (answered with 400)."""


class NotFound(MetalabError):
    """No such experiment, run or file (answered with 404)."""


@dataclass(frozen=True)
class Field:
    """A validated field: ``kind`` says where it lives, ``key`` is the column or JSON key."""

    kind: Kind
    key: str

    @property
    def name(self) -> str:
        return self.key if self.kind.startswith("core") else f"{self.kind}.{self.key}"


@dataclass(frozen=True)
class Filter:
    field: Field
    op: str
    value: str

    @property
    def number(self) -> float | None:
        return as_number(self.value)


@dataclass(frozen=True)
class RunQuery:
    filters: tuple[Filter, ...] = ()
    statuses: tuple[str, ...] = ()
    search: str = ""
    sort: Field = field(default_factory=lambda: Field("core_text", "run_id"))
    descending: bool = False
    offset: int = 0
    limit: int = 50


@dataclass
class KnownFields:
    """The fields one experiment has: core columns plus every param and metric key seen."""

    params: set[str] = field(default_factory=set)
    metrics: set[str] = field(default_factory=set)

    def resolve(self, name: str) -> Field:
        if name in NUMERIC_CORE:
            return Field("core_num", name)
        if name in TEXT_CORE:
            return Field("core_text", name)
        prefix, dot, key = name.partition(".")
        if dot and prefix == "params" and key in self.params:
            return Field("params", key)
        if dot and prefix == "metrics" and key in self.metrics:
            return Field("metrics", key)
        raise QueryError(f"unknown field {name[:80]!r}")

    def to_json(self) -> dict[str, list[str]]:
        return {
            "core": list(CORE_FIELDS),
            "params": sorted(self.params),
            "metrics": sorted(self.metrics),
        }


def as_number(value: Any) -> float | None:
    """A finite float for JSON numbers and numeric strings; None otherwise (bools excluded)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def check_request_text(where: list[str], *texts: str) -> None:
    """Bounds on what a client sends, checked before any store work: at most `MAX_FILTERS`
    filters, `MAX_TEXT` characters each, and no NUL (PostgreSQL text cannot hold one)."""
    if len(where) > MAX_FILTERS:
        raise QueryError(f"at most {MAX_FILTERS} where= filters per request ({len(where)} given)")
    for text in (*where, *texts):
        if len(text) > MAX_TEXT:
            raise QueryError(f"a parameter is longer than {MAX_TEXT} characters")
        if "\x00" in text:
            raise QueryError("a parameter holds a NUL character")


def parse_filter(text: str, fields: KnownFields) -> Filter:
    """``field:op:value`` (op one of eq, lt, gt, contains) into a `Filter`."""
    name, sep1, rest = text.partition(":")
    op, sep2, value = rest.partition(":")
    if not (sep1 and sep2):
        raise QueryError(f"filter {text[:80]!r} is not field:op:value")
    if op not in OPS:
        raise QueryError(f"filter operator {op[:20]!r} is not one of {', '.join(OPS)}")
    return Filter(fields.resolve(name), op, value)


def parse_query(
    fields: KnownFields,
    *,
    where: list[str],
    status: str = "",
    q: str = "",
    sort: str = "",
    order: str = "asc",
    offset: int = 0,
    limit: int = 50,
) -> RunQuery:
    """Validate every client-supplied part of a runs query."""
    if order not in ("asc", "desc"):
        raise QueryError("order must be asc or desc")
    if not 0 <= offset <= MAX_OFFSET or not 1 <= limit <= MAX_LIMIT:
        raise QueryError(
            f"offset must be between 0 and {MAX_OFFSET} and limit between 1 and {MAX_LIMIT}"
        )
    check_request_text(where, status, q, sort)
    statuses = tuple(s for s in status.split(",") if s)
    return RunQuery(
        filters=tuple(parse_filter(w, fields) for w in where),
        statuses=statuses,
        search=q.strip(),
        sort=fields.resolve(sort) if sort else Field("core_text", "run_id"),
        descending=order == "desc",
        offset=offset,
        limit=limit,
    )


def check_experiment_id(value: str) -> str:
    """An experiment id (upstream's ``name:version`` too), or ``STORE::ID`` for one of a
    nested store (`metalab_atlas.multistore`)."""
    store, sep, local = value.rpartition("::")
    if not EXPERIMENT_REF.fullmatch(local) or (sep and not STORE_KEY.fullmatch(store)):
        raise QueryError("invalid experiment id")
    return value


def check_run_id(value: str) -> str:
    if not RUN_ID.fullmatch(value):
        raise QueryError("invalid run id")
    return value
