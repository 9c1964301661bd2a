"""`RunQuery` and plot aggregation over in-memory run rows (the FileStore index).

The semantics mirror `metalab_atlas.pgsource` exactly; `tests/integration/atlas` runs the same
queries against both stores and compares the answers.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import operator
from collections.abc import Callable, Iterable
from typing import Any

from metalab_atlas.query import NON_FINITE, Field, Filter, RunQuery, as_number

Row = dict[str, Any]
MISSING = 2


def value_of(row: Row, f: Field) -> Any:
    if f.kind == "params" or f.kind == "metrics":
        return row[f.kind].get(f.key)
    return row.get(f.key)


def text_of(value: Any) -> str | None:
    """The text a value compares and searches as (None for missing)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, sort_keys=True)


def rank_key(value: Any) -> tuple[int, float, str]:
    """A total sort key putting numbers first, then text, then missing values (plot axes);
    missing ones (null, NaN, "Infinity", ...) in the order of their text."""
    number = as_number(value) if not isinstance(value, str) else None
    if number is not None:
        return (0, number, "")
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return (MISSING, 0.0, text_of(value) or "")
    if isinstance(value, str) and value in NON_FINITE:
        return (MISSING, 0.0, value)
    return (1, 0.0, text_of(value) or "")


def _matches(row: Row, flt: Filter) -> bool:
    value = value_of(row, flt.field)
    if value is None:
        return False
    number = flt.number
    is_num = not isinstance(value, str) and as_number(value) is not None
    text = text_of(value) or ""
    if flt.op == "contains":
        return flt.value.lower() in text.lower()
    if flt.op == "eq":
        if is_num and number is not None:
            return float(value) == number
        return not is_num and text == flt.value
    if number is not None and flt.field.kind != "core_text":
        if not is_num:
            return False
        return float(value) < number if flt.op == "lt" else float(value) > number
    if is_num:
        return False
    encoded, wanted = text.encode(), flt.value.encode()
    return encoded < wanted if flt.op == "lt" else encoded > wanted


def search_text(row: Row) -> str:
    parts = [row["run_id"], row["status"], row.get("host") or "", row.get("error") or ""]
    parts.append(json.dumps(row["params"], sort_keys=True))
    return " ".join(parts).lower()


def compile_filter(flt: Filter) -> Callable[[Row], bool]:
    """A predicate for ``flt``; numeric comparisons on params/metrics get a fast path."""
    number = flt.number
    if flt.field.kind in ("params", "metrics") and number is not None and flt.op in ("lt", "gt"):
        kind, key, bound, below = flt.field.kind, flt.field.key, number, flt.op == "lt"

        def numeric(row: Row) -> bool:
            value = row[kind].get(key)
            if type(value) is not float and type(value) is not int:
                return False
            return bool(value < bound) if below else bool(value > bound)

        return numeric
    if flt.field.kind in ("params", "metrics") and flt.op == "eq":
        kind, key, text = flt.field.kind, flt.field.key, flt.value

        def equal(row: Row) -> bool:
            value = row[kind].get(key)
            if type(value) is float or type(value) is int:
                return number is not None and bool(value == number)
            if type(value) is str:
                return bool(value == text)
            return value is not None and text_of(value) == text

        return equal
    return lambda row: _matches(row, flt)


def matcher(query: RunQuery) -> Callable[[Row], bool]:
    """One row's test for the query's statuses, search and filters."""
    statuses = set(query.statuses)
    needle = query.search.lower()
    predicates = [compile_filter(f) for f in query.filters]

    def match(row: Row) -> bool:
        if statuses and row["status"] not in statuses:
            return False
        if needle and needle not in row["_search"]:
            return False
        return all(predicate(row) for predicate in predicates)

    return match


Columns = Callable[[Field], list[Any]]  # a field's values, aligned with the rows at hand
STATUS = Field("core_text", "status")
SEARCH = Field("core_text", "_search")


def select(rows: Iterable[Row], query: RunQuery, columns: Columns | None = None) -> list[Row]:
    """The rows matching the query's statuses, filters and search, in their given order."""
    rows = rows if isinstance(rows, list) else list(rows)
    mask = select_mask(rows, query, columns)
    return rows if mask is None else list(itertools.compress(rows, mask))


def select_mask(
    rows: list[Row], query: RunQuery, columns: Columns | None = None
) -> list[bool] | None:
    """Which of ``rows`` match (None: all), a column at a time: each test is one pass over a
    field's values, C-level where it can be. ``columns`` gives values (else read from rows)."""
    get = columns or (lambda f: column(rows, f))
    tests: list[list[bool]] = []
    if query.statuses:
        wanted = frozenset(query.statuses)
        tests.append(list(map(wanted.__contains__, get(STATUS))))
    needle = query.search.lower()
    if needle:
        tests.append(list(map(operator.contains, get(SEARCH), itertools.repeat(needle))))
    for flt in query.filters:
        tests.append(_column_test(rows, flt, get))
    if not tests:
        return None
    mask = tests[0]
    for test in tests[1:]:
        mask = list(map(operator.and_, mask, test))
    return mask


def column(rows: list[Row], f: Field) -> list[Any]:
    """Every row's value of ``f``, in order."""
    if f.kind == "params" or f.kind == "metrics":
        nested = map(operator.itemgetter(f.kind), rows)
        return list(map(dict.get, nested, itertools.repeat(f.key)))
    return list(map(dict.get, rows, itertools.repeat(f.key)))


def _column_test(rows: list[Row], flt: Filter, get: Columns) -> list[bool]:
    """Which of ``rows`` pass ``flt``."""
    if flt.field.kind not in ("params", "metrics"):
        return [_matches(row, flt) for row in rows]
    values = get(flt.field)
    number = flt.number
    if flt.op == "eq" and number is not None and set(map(type, values)) <= NUMERIC_OR_NONE:
        return list(map(operator.eq, values, itertools.repeat(number)))
    if flt.op in ("lt", "gt") and number is not None:
        bound, below = number, flt.op == "lt"

        def numeric(value: Any) -> bool:
            if type(value) is not float and type(value) is not int:
                return False
            return bool(value < bound) if below else bool(value > bound)

        return list(map(numeric, values))
    test = compile_filter(flt)
    return list(map(test, rows))


Entry = tuple[Any, str, Row]  # (sort key, run_id, row): run ids are unique, rows never compared
_first = operator.itemgetter(0)
NUMBERS, TEXTS, MISSING_VALUES = 0, 1, 2


def _inverted(data: bytes) -> bytes:
    """Bytes whose ascending order is ``data``'s descending order (prefixes included)."""
    return data.translate(INVERT) + b"\xff"


INVERT = bytes(range(255, -1, -1))


class Ordering:
    """Rows in the shared order (numbers, then text, then missing — missing last either way;
    ties by run_id). Its three sorted buckets of entries, which let a few changed rows move
    without sorting everything again, are made when first needed."""

    def __init__(
        self,
        sort: Field,
        descending: bool,
        buckets: list[list[Entry]] | None = None,
        rows: list[Row] | None = None,
        numbers: list[Any] | None = None,
    ) -> None:
        self.sort, self.descending = sort, descending
        self._buckets = buckets
        self._numbers = numbers  # the leading rows' values when the rest are missing
        if rows is None:
            rows = [e[2] for bucket in buckets or () for e in bucket]
        self.rows: list[Row] = rows

    @property
    def buckets(self) -> list[list[Entry]]:
        if self._buckets is None and self._numbers is not None:
            count, rows = len(self._numbers), self.rows
            ids = list(map(operator.itemgetter("run_id"), rows))
            keys = list(map(operator.neg, self._numbers)) if self.descending else self._numbers
            self._buckets = [
                list(zip(keys, ids[:count], rows[:count], strict=True)),
                [],
                list(zip(itertools.repeat(0), ids[count:], rows[count:])),
            ]
        if self._buckets is None:
            entry = _entry_function(self.sort, self.descending)
            buckets: list[list[Entry]] = [[], [], []]
            for row in self.rows:  # already in order: each bucket comes out sorted
                where, item = entry(row)
                buckets[where].append(item)
            self._buckets = buckets
        return self._buckets

    @classmethod
    def build(
        cls, rows: Iterable[Row], sort: Field, descending: bool, values: list[Any] | None = None
    ) -> Ordering:
        """Sort ``rows``, given in run_id order (the sorts are stable: ties stay in it);
        ``values`` are their values of ``sort`` when known."""
        rows = rows if isinstance(rows, list) else list(rows)
        if values is None:
            values = column(rows, sort)
        fast = _numbers_first(values, rows, descending)
        if fast is not None:
            return cls(sort, descending, rows=fast[0], numbers=fast[1])
        entry = _entry_function(sort, descending)
        buckets: list[list[Entry]] = [[], [], []]
        for row in rows:
            where, item = entry(row)
            buckets[where].append(item)
        for bucket in buckets:
            bucket.sort(key=_first)
        return cls(sort, descending, buckets)

    def filtered(self, match: Callable[[Row], bool]) -> Ordering:
        """The rows that ``match``, in the same order."""
        return Ordering(self.sort, self.descending, rows=list(filter(match, self.rows)))

    def update(self, dirty: set[str], fresh: Iterable[Row]) -> Ordering:
        """A new ordering without the ``dirty`` run ids, plus ``fresh`` rows put in place."""
        buckets = [[e for e in bucket if e[1] not in dirty] for bucket in self.buckets]
        entry = _entry_function(self.sort, self.descending)
        for row in fresh:
            where, item = entry(row)
            bisect.insort(buckets[where], item)
        return Ordering(self.sort, self.descending, buckets)


NUMERIC_OR_NONE = frozenset({float, int, type(None)})


def _numbers_first(
    values: list[Any], rows: list[Row], descending: bool
) -> tuple[list[Row], list[Any]] | None:
    """The common case in C-level passes: every value a finite number or None (missing).
    Returns the ordered rows and the values of the leading, numbered ones; None when another
    kind of value is present (the general path decides)."""
    if not set(map(type, values)) <= NUMERIC_OR_NONE:
        return None
    present = list(map(operator.is_not, values, itertools.repeat(None)))
    numbers = list(itertools.compress(values, present))
    if not math.isfinite(math.fsum(numbers)):
        return None  # NaN or ±Infinity among them (or a huge sum): the general path
    numbered = list(itertools.compress(rows, present))
    order = sorted(range(len(numbers)), key=numbers.__getitem__, reverse=descending)
    missing = itertools.compress(rows, map(operator.not_, present))
    return [*map(numbered.__getitem__, order), *missing], list(map(numbers.__getitem__, order))


def _entry_function(sort: Field, descending: bool) -> Callable[[Row], tuple[int, Entry]]:
    nested = sort.kind in ("params", "metrics")
    core_text = sort.kind == "core_text"
    kind_name, key = sort.kind, sort.key
    sign = -1.0 if descending else 1.0

    def text_key(data: bytes) -> bytes:
        return _inverted(data) if descending else data

    def entry(row: Row) -> tuple[int, Entry]:
        value: Any = row[kind_name].get(key) if nested else row.get(key)
        run_id = row["run_id"]
        kind = type(value)
        if kind is float:
            if value - value == 0:  # finite (inf - inf and nan - nan are nan)
                return NUMBERS, (sign * value, run_id, row)
            return MISSING_VALUES, (0, run_id, row)
        if kind is int:
            return NUMBERS, (sign * value, run_id, row)
        if value is None or (kind is str and not core_text and value in NON_FINITE):
            return MISSING_VALUES, (0, run_id, row)
        text = value if kind is str else (text_of(value) or "")
        return TEXTS, (text_key(text.encode()), run_id, row)

    return entry


def order(rows: Iterable[Row], sort: Field, descending: bool) -> list[Row]:
    """Numbers, then text, then missing — missing last either way; ties by run_id."""
    return Ordering.build(rows, sort, descending).rows


HASHABLE = frozenset({int, float, str, type(None)})


def _cell_key(value: Any) -> Any:
    return value if type(value) in HASHABLE else ("json", text_of(value))


def aggregate(
    rows: Iterable[Row], x: Field, y: Field, group: Field | None, columns: Columns | None = None
) -> list[dict[str, Any]]:
    """Mean, sample standard deviation and count of ``y`` per (group, x); numeric ``y`` only.
    ``columns`` gives the rows' values (else they are read from the rows)."""
    rows = rows if isinstance(rows, list) else list(rows)
    get = columns or (lambda f: column(rows, f))
    ys = get(y)
    if set(map(type, ys)) <= NUMERIC_OR_NONE:  # keep finite numbers: C-level passes
        keep = list(map(_finite_number, ys))
    else:
        keep = [(type(v) is float or type(v) is int) and v - v == 0 for v in ys]
    values = list(itertools.compress(ys, keep))
    xs = list(itertools.compress(get(x), keep))
    gs = list(itertools.compress(get(group), keep)) if group else [None] * len(xs)
    hashable = set(map(type, xs)) | set(map(type, gs)) <= HASHABLE
    cells: dict[tuple[Any, Any], tuple[Any, Any, list[float]]] = {}
    for gv, xv, yv in zip(gs, xs, values, strict=True):
        if xv is None:
            continue
        key = (gv, xv) if hashable else (_cell_key(gv), _cell_key(xv))
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = (gv, xv, [])
        cell[2].append(float(yv))
    series: dict[str | None, list[dict[str, Any]]] = {}
    for gv, xv, cell_values in cells.values():
        series.setdefault(text_of(gv), []).append(point(xv, cell_values))
    return [
        {"group": gv, "points": sorted(points, key=lambda p: rank_key(p["x"]))}
        for gv, points in sorted(series.items(), key=lambda kv: rank_key(kv[0]))
    ]


def _finite_number(value: float | int | None) -> bool:
    return value is not None and value - value == 0


def point(x: Any, values: list[float]) -> dict[str, Any]:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"x": x, "mean": mean, "std": std, "n": n}
