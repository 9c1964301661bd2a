"""SQL for the runs table, composed with `psycopg.sql`: field names are bound parameters
(JSON keys) or identifiers from a fixed allow-list, never text from the client.

Semantics match `metalab_atlas.evaluate` (numbers, then text in byte order, then missing).
"""

from __future__ import annotations

import json
from typing import Any

from psycopg import sql

from metalab_atlas.query import NON_FINITE, Field, RunQuery

TIMESTAMPS = ("created_at", "started_at", "finished_at")
NOT_NULL = ("status", "seed", "attempt")
ISO_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'
SEARCHED = sql.SQL(
    "(r.run_id || ' ' || r.status || ' ' || coalesce(r.host, '') || ' ' || "
    "coalesce(left(r.error, 500), '') || ' ' || r.params::text)"
)

Args = list[Any]


class Expr:
    """An SQL expression plus the parameters it binds, in order."""

    def __init__(self, text: sql.Composable, args: Args | None = None) -> None:
        self.text = text
        self.args = args or []


def status_expr(lost: frozenset[str] = frozenset()) -> Expr:
    """The run's status as shown: ``lost`` for the running runs in ``lost``."""
    if not lost:
        return Expr(sql.SQL("r.status"))
    return Expr(
        sql.SQL(
            "(CASE WHEN r.status = 'running' AND r.run_id = ANY(%s) THEN 'lost' ELSE r.status END)"
        ),
        [sorted(lost)],
    )


def value_expr(f: Field, lost: frozenset[str] = frozenset()) -> Expr:
    """The field's value: jsonb for params/metrics, a typed column otherwise."""
    if f.kind in ("params", "metrics"):
        return Expr(sql.SQL("(r.{} -> %s)").format(sql.Identifier(f.kind)), [f.key])
    if f.key == "status":
        return status_expr(lost)
    column = sql.SQL("r.{}").format(sql.Identifier(f.key))
    if f.key in TIMESTAMPS:
        return Expr(
            sql.SQL("to_char({} AT TIME ZONE 'UTC', {})").format(column, sql.Literal(ISO_FORMAT))
        )
    return Expr(column)


def like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def condition(
    f: Field, op: str, value: str, number: float | None, lost: frozenset[str] = frozenset()
) -> Expr:
    x = value_expr(f, lost)
    if f.kind in ("params", "metrics"):
        text = f"({x_text()})"
        if op == "contains":
            return _bind(f"{text} ILIKE %s", x, [like_pattern(value)])
        if op == "eq":
            return contains_any(f, value, number)
        cmp = "<" if op == "lt" else ">"
        if number is not None:  # JSON numbers only: their typed copies in run_values
            return Expr(
                sql.SQL(
                    "EXISTS (SELECT 1 FROM run_values fv WHERE fv.experiment_id = r.experiment_id "
                    f"AND fv.run_id = r.run_id AND fv.field = %s AND fv.num {cmp} %s)"
                ),
                [f.name, number],
            )
        return _bind(
            f"(jsonb_typeof({{x}}) <> 'number' AND {text} COLLATE \"C\" {cmp} %s)", x, [value]
        )
    if op == "contains":
        return _bind("({x})::text ILIKE %s", x, [like_pattern(value)])
    if f.kind == "core_num":
        if number is None:
            return Expr(sql.SQL("FALSE"))
        cmp = {"eq": "=", "lt": "<", "gt": ">"}[op]
        return _bind(f"{{x}} {cmp} %s", x, [number])
    cmp = {"eq": "=", "lt": "<", "gt": ">"}[op]
    return _bind(f'{{x}} COLLATE "C" {cmp} %s', x, [value])


def contains_any(f: Field, value: str, number: float | None) -> Expr:
    """``eq`` on a JSON field as containment (served by the GIN index): the number, the
    string, or the boolean the value spells."""
    candidates: list[Any] = [value]
    if number is not None:
        candidates.append(number)
    if value in ("true", "false"):
        candidates.append(value == "true")
    column = sql.Identifier(f.kind)
    text = sql.SQL(" OR ").join(sql.SQL("r.{} @> %s::jsonb").format(column) for _ in candidates)
    return Expr(sql.SQL("({})").format(text), [json.dumps({f.key: c}) for c in candidates])


def x_text() -> str:
    return "{x} #>> '{{}}'"


def _bind(template: str, x: Expr, tail: Args) -> Expr:
    """Format ``template`` (``{x}`` = the field) and bind the field's args at each use
    followed by ``tail`` (the template's own ``%s`` come after every ``{x}``)."""
    text = sql.SQL(template).format(x=x.text)
    uses = template.count("{x}")
    return Expr(text, _interleave(template, x.args, tail, uses))


def _interleave(template: str, x_args: Args, tail: Args, uses: int) -> Args:
    """Parameters in textual order: each ``{x}`` contributes ``x_args``, each ``%s`` one of
    ``tail``."""
    out: Args = []
    remaining = list(tail)
    index = 0
    while index < len(template):
        if template.startswith("{x}", index):
            out.extend(x_args)
            index += 3
        elif template.startswith("%s", index):
            out.append(remaining.pop(0))
            index += 2
        else:
            index += 1
    return out


def where(experiment_id: str, query: RunQuery, lost: frozenset[str] = frozenset()) -> Expr:
    """The query's conditions; ``lost`` are the running runs shown as lost."""
    parts: list[sql.Composable] = [sql.SQL("r.experiment_id = %s")]
    args: Args = [experiment_id]
    if query.statuses:
        status = status_expr(lost)
        parts.append(sql.SQL("{} = ANY(%s)").format(status.text))
        args.extend([*status.args, list(query.statuses)])
    if query.search:
        parts.append(sql.SQL("{} ILIKE %s").format(SEARCHED))
        args.append(like_pattern(query.search))
    for flt in query.filters:
        cond = condition(flt.field, flt.op, flt.value, flt.number, lost)
        parts.append(cond.text)
        args.extend(cond.args)
    return Expr(sql.SQL(" AND ").join(parts), args)


def order_by(f: Field, descending: bool, lost: frozenset[str] = frozenset()) -> Expr:
    direction = "DESC" if descending else "ASC"
    if f.kind in ("params", "metrics"):
        missing = ", ".join(f"'{v}'" for v in sorted(NON_FINITE))
        is_missing = f"{{x}} IS NULL OR jsonb_typeof({{x}}) = 'null' OR ({x_text()}) IN ({missing})"
        template = (
            f"CASE WHEN jsonb_typeof({{x}}) = 'number' THEN 0 WHEN {is_missing} THEN 2 ELSE 1 END, "
            f"CASE WHEN jsonb_typeof({{x}}) = 'number' THEN ({{x}})::float8 END {direction}, "
            f"CASE WHEN jsonb_typeof({{x}}) = 'number' OR {is_missing} THEN NULL "
            f'ELSE {x_text()} END COLLATE "C" {direction}, r.run_id'
        )
        return _bind(template, value_expr(f), [])
    if f.key == "run_id":  # 20 lowercase hex digits: the primary key's order is byte order
        return Expr(sql.SQL(f"r.run_id {direction}"))
    collate = ' COLLATE "C"' if f.kind == "core_text" else ""
    nulls = "" if f.key in NOT_NULL else "{x} IS NULL, "
    return _bind(f"{nulls}{{x}}{collate} {direction}, r.run_id", value_expr(f, lost), [])


def is_filtered(query: RunQuery) -> bool:
    return bool(query.filters or query.statuses or query.search)


def value_counts(f: Field, cond: Expr) -> Expr:
    """(runs, those whose ``f`` is a number, those with another value of ``f``) of an
    unfiltered query: index-only counts."""
    count = (
        "(SELECT count(*) FROM run_values v WHERE v.experiment_id = %s AND v.field = %s "
        "AND v.{} IS NOT NULL)"
    )
    text = sql.SQL(f"SELECT count(*), {count}, {count} FROM runs r WHERE {{}}").format(
        sql.Identifier("num"), sql.Identifier("txt"), cond.text
    )
    experiment = cond.args[0]
    return Expr(text, [experiment, f.name, experiment, f.name, *cond.args])


def value_page(
    f: Field, column: str, descending: bool, experiment_id: str, offset: int, limit: int
) -> Expr:
    """Run ids of the runs whose ``f`` is in ``column`` (num or txt), in order: an index walk."""
    direction = sql.SQL("DESC" if descending else "ASC")
    key = sql.SQL('v.txt COLLATE "C"') if column == "txt" else sql.SQL("v.num")
    text = sql.SQL(
        "SELECT v.run_id FROM run_values v WHERE v.experiment_id = %s AND v.field = %s "
        "AND v.{column} IS NOT NULL ORDER BY {key} {direction}, v.run_id OFFSET %s LIMIT %s"
    ).format(column=sql.Identifier(column), key=key, direction=direction)
    return Expr(text, [experiment_id, f.name, offset, limit])


def missing_page(f: Field, cond: Expr, offset: int, limit: int) -> Expr:
    """Run ids of the matching runs without a value of ``f``, in run_id order."""
    return Expr(
        sql.SQL(
            "SELECT r.run_id FROM runs r WHERE {} AND NOT EXISTS (SELECT 1 FROM run_values v "
            "WHERE v.experiment_id = r.experiment_id AND v.field = %s AND v.run_id = r.run_id) "
            "ORDER BY r.run_id OFFSET %s LIMIT %s"
        ).format(cond.text),
        [*cond.args, f.name, offset, limit],
    )


def matches_by_value(f: Field, descending: bool, cond: Expr, offset: int, limit: int) -> Expr:
    """(count, the page's run ids) of a filtered query sorted by ``f``: the matches first,
    joined to their typed value, then sorted (numbers, other values, missing last)."""
    direction = "DESC" if descending else "ASC"
    text = sql.SQL(
        "WITH m AS MATERIALIZED (SELECT r.run_id, v.num, v.txt FROM runs r "
        "LEFT JOIN run_values v ON v.experiment_id = r.experiment_id AND v.field = %s "
        "AND v.run_id = r.run_id WHERE {}) "
        "SELECT (SELECT count(*) FROM m), ARRAY(SELECT run_id FROM m ORDER BY num IS NULL, "
        f'txt IS NULL, num {direction}, txt COLLATE "C" {direction}, run_id OFFSET %s LIMIT %s)'
    ).format(cond.text)
    return Expr(text, [f.name, *cond.args, offset, limit])
