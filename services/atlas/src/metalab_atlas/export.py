"""The runs table as a file: CSV, JSON or (when pyarrow is installed) Parquet.

Rows are flattened to columns: the core fields, then ``params.NAME`` and ``metrics.NAME``
for every name the exported runs have. Non-finite numbers are written as the store files
write them (``NaN``, ``Infinity``, ``-Infinity``); nested values as JSON text. CSV cells of
text that a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR) get a
leading ``'``.
"""

from __future__ import annotations

import csv
import importlib
import io
import json
import math
from typing import Any

from metalab_atlas.query import QueryError

MAX_ROWS = 100_000
DEFAULT_ROWS = 10_000
CORE = (
    "run_id",
    "status",
    "seed",
    "attempt",
    "host",
    "created_at",
    "started_at",
    "finished_at",
    "duration_s",
    "error",
)
FORMATS = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "parquet": "application/vnd.apache.parquet",
}
FORMULA = ("=", "+", "-", "@", "\t", "\r")


def check_format(name: str) -> str:
    if name not in FORMATS:
        raise QueryError(f"format must be one of {', '.join(FORMATS)}")
    if name == "parquet" and not parquet_available():
        raise QueryError("parquet export needs pyarrow, which is not installed")
    return name


def parquet_available() -> bool:
    try:
        importlib.import_module("pyarrow")
    except ImportError:
        return False
    return True


def columns(rows: list[dict[str, Any]]) -> list[str]:
    params = sorted({k for r in rows for k in (r.get("params") or {})})
    metrics = sorted({k for r in rows for k in (r.get("metrics") or {})})
    return [*CORE, *(f"params.{p}" for p in params), *(f"metrics.{m}" for m in metrics)]


def flat(row: dict[str, Any], column: str) -> Any:
    section, dot, key = column.partition(".")
    if dot and section in ("params", "metrics"):
        return (row.get(section) or {}).get(key)
    return row.get(column)


def _plain(value: Any) -> Any:
    """A scalar for a table cell: non-finite floats as text, nested values as JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, allow_nan=True)
    return value


def to_csv(rows: list[dict[str, Any]]) -> bytes:
    names = columns(rows)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(names)
    for row in rows:
        writer.writerow([_csv_cell(flat(row, c)) for c in names])
    return out.getvalue().encode()


def _csv_cell(value: Any) -> str:
    value = _plain(value)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA) else text


def to_json(rows: list[dict[str, Any]]) -> bytes:
    names = columns(rows)
    table = [{c: _plain(flat(row, c)) for c in names} for row in rows]
    return json.dumps({"columns": names, "rows": table}, allow_nan=False).encode()


def to_parquet(rows: list[dict[str, Any]]) -> bytes:
    """One column per field; a column holding mixed kinds of values is written as text."""
    pa: Any = importlib.import_module("pyarrow")
    pq: Any = importlib.import_module("pyarrow.parquet")
    arrays: dict[str, Any] = {}
    for name in columns(rows):
        raw = [flat(row, name) for row in rows]
        kinds = {type(v) for v in raw if v is not None}
        if kinds <= {int, float}:  # NaN stays a float NaN here
            arrays[name] = pa.array(raw)
        elif kinds == {bool}:
            arrays[name] = pa.array(raw, type=pa.bool_())
        else:
            text = [_plain(v) for v in raw]
            arrays[name] = pa.array([None if v is None else str(v) for v in text])
    sink = io.BytesIO()
    pq.write_table(pa.table(arrays), sink)
    return sink.getvalue()


def render(rows: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(rows)
    if fmt == "json":
        return to_json(rows)
    return to_parquet(rows)
