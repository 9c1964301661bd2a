"""Plot data of an unfiltered experiment from `run_values` alone (index-only scans).

The general plot query reads every run's ``params``/``metrics`` jsonb and groups by jsonb
values; at 100,000 runs that costs ~170 ms here. When x, y and the group are params or
metrics and no filter applies, each is one index-only scan of ``run_values`` in ``run_id``
order, merged on ``run_id`` and grouped by the typed ``(num, txt)`` pair: ~100 ms. Each
cell keeps one run id per axis, so x and the group are reported as the JSON the runs hold.

``run_values`` has no row for JSON null or the strings "NaN"/"Infinity"/"-Infinity"; the
general query keeps such x and group values, so `has_non_finite_text` sends those
experiments back to it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

from psycopg import sql

from metalab_atlas.pgsql import Expr
from metalab_atlas.query import NON_FINITE, Field

# Per statement (SET LOCAL): merging the three run_id-ordered index scans beats hashing
# 100,000 text keys twice (measured 97 vs 134 ms), and compiling the plan (JIT, which its
# row estimates trigger) costs more than running it (~500 ms). The halves run side by side
# already; a parallel plan of its own would rescan the joined sides in every worker.
SETTINGS = (
    ("jit", "off"),
    ("enable_hashjoin", "off"),
    ("max_parallel_workers_per_gather", "0"),
)
KINDS = ("params", "metrics")


def eligible(x: Field, y: Field, group: Field | None, filtered: bool) -> bool:
    """Whether `values_plot` answers this plot (else the general query does)."""
    axes = [x, y] + ([group] if group is not None else [])
    return not filtered and all(f.kind in KINDS for f in axes)


def _field_name(f: Field) -> str:
    return f"{f.kind}.{f.key}"


def has_non_finite_text(experiment_id: str, fields: Sequence[Field]) -> Expr:
    """One row (true/false): does any run hold a non-finite string in one of ``fields``?

    Containment probes, so the jsonb GIN indexes answer it without reading every run.
    """
    probes: list[sql.Composable] = []
    args: list[object] = [experiment_id]
    for f in fields:
        for text in sorted(NON_FINITE):
            probes.append(sql.SQL("r.{} @> %s::jsonb").format(sql.Identifier(f.kind)))
            args.append(json.dumps({f.key: text}))
    query = sql.SQL("SELECT EXISTS (SELECT 1 FROM runs r WHERE r.experiment_id = %s AND ({}))")
    return Expr(query.format(sql.SQL(" OR ").join(probes)), args)


def split_probe(experiment_id: str, y: Field) -> Expr:
    """One row: the first and last run id holding ``y``, and PostgreSQL's histogram of
    ``run_values.run_id`` (NULL before the table was first analyzed)."""
    bound = sql.SQL("(SELECT {}(run_id) FROM run_values WHERE experiment_id = %s AND field = %s)")
    query = sql.SQL(
        "SELECT {}, {}, (SELECT histogram_bounds::text::text[] FROM pg_stats "
        "WHERE schemaname = current_schema() AND tablename = 'run_values' "
        "AND attname = 'run_id' ORDER BY inherited LIMIT 1)"
    ).format(bound.format(sql.SQL("min")), bound.format(sql.SQL("max")))
    name = _field_name(y)
    return Expr(query, [experiment_id, name, experiment_id, name])


def split_point(first: str | None, last: str | None, histogram: Sequence[str] | None) -> str | None:
    """A run id that splits ``first..last`` into two ranges of about as many runs, or None.

    Taken from the table's histogram, so it costs no scan; a poor split only makes one half
    slower, never an answer wrong (the halves are ``run_id < point`` and ``>= point``).
    """
    if first is None or last is None or not histogram:
        return None
    inside = [b for b in histogram if first < b <= last]
    return inside[len(inside) // 2] if inside else None


RunRange = tuple[str | None, str | None]


def values_plot(
    experiment_id: str, x: Field, y: Field, group: Field | None, runs: RunRange = (None, None)
) -> Expr:
    """Partial cells of the runs in ``runs`` (``[from, to)``, None: unbounded), one row each:
    (x num, x txt, group num, group txt, x sample run, x JSON, group sample run, group
    JSON, n, mean, n × population variance); `merge_cells` combines the parts."""
    limits = [(" AND run_id >= %s", runs[0]), (" AND run_id < %s", runs[1])]
    bounds = sql.SQL("").join(sql.SQL(text) for text, value in limits if value is not None)
    bound_args = [value for _, value in limits if value is not None]
    scan = sql.SQL(
        "(SELECT run_id, num, txt FROM run_values WHERE experiment_id = %s AND field = %s{}{}) {}"
    )
    joined = [
        scan.format(sql.SQL(" AND num IS NOT NULL"), bounds, sql.Identifier("yv")),
        sql.SQL(" JOIN "),
        scan.format(sql.SQL(""), bounds, sql.Identifier("xv")),
        sql.SQL(" USING (run_id)"),
    ]
    scan_args: list[object] = [
        *[experiment_id, _field_name(y), *bound_args],
        *[experiment_id, _field_name(x), *bound_args],
    ]
    group_cols = sql.SQL("NULL::float8 AS gn, NULL::text AS gt, NULL::text AS gs")
    group_keys = sql.SQL("")
    if group is not None:
        joined += [
            sql.SQL(" LEFT JOIN "),
            scan.format(sql.SQL(""), bounds, sql.Identifier("gv")),
            sql.SQL(" USING (run_id)"),
        ]
        scan_args += [experiment_id, _field_name(group), *bound_args]
        group_cols = sql.SQL("gv.num AS gn, gv.txt AS gt, min(gv.run_id) AS gs")
        group_keys = sql.SQL(", gv.num, gv.txt")
    cells = sql.SQL(
        "SELECT xv.num AS xn, xv.txt AS xt, {}, min(xv.run_id) AS xs, count(*) AS n, "
        "avg(yv.num) AS mean, var_pop(yv.num) * count(*) AS m2 "
        "FROM {} GROUP BY xv.num, xv.txt{}"
    ).format(group_cols, sql.Composed(joined), group_keys)
    original = sql.SQL(
        "(SELECT (r.{} -> %s)::text FROM runs r WHERE r.experiment_id = %s AND r.run_id = c.{})"
    )
    head: list[object] = [x.key, experiment_id]
    group_json: sql.Composable = sql.SQL("NULL::text")
    if group is not None:
        group_json = original.format(sql.Identifier(group.kind), sql.Identifier("gs"))
        head += [group.key, experiment_id]
    x_json = original.format(sql.Identifier(x.kind), sql.Identifier("xs"))
    statement = sql.SQL(
        "SELECT c.xn, c.xt, c.gn, c.gt, c.xs, {}, c.gs, {}, c.n, c.mean, c.m2 FROM ({}) c"
    ).format(x_json, group_json, cells)
    return Expr(statement, [*head, *scan_args])


Cell = tuple[str, str, str | None, str | None, int, float, float]


def merge_cells(parts: Sequence[Sequence[tuple[Any, ...]]]) -> list[tuple[Any, ...]]:
    """Rows of (group JSON text or NULL, x JSON text, mean, std, n) from the parts of
    `values_plot`: counts add, means and variances combine exactly (Chan et al.), and each
    value is reported as the run with the smallest id holding it shows it."""
    cells: dict[tuple[Any, ...], Cell] = {}
    for rows in parts:
        for xn, xt, gn, gt, xs, x_json, gs, g_json, n, mean, m2 in rows:
            key, cell = (xn, xt, gn, gt), (xs, x_json, gs, g_json, int(n), float(mean), float(m2))
            seen = cells.get(key)
            cells[key] = cell if seen is None else _combined(seen, cell)
    out: list[tuple[Any, ...]] = []
    for _, x_json, _, g_json, n, mean, m2 in cells.values():
        out.append((g_json, x_json, mean, math.sqrt(m2 / (n - 1)) if n > 1 else 0.0, n))
    return out


def _combined(a: Cell, b: Cell) -> Cell:
    xs, x_json = min((a[0], a[1]), (b[0], b[1]))
    gs, g_json = a[2:4] if b[2] is None or (a[2] is not None and a[2] <= b[2]) else b[2:4]
    n = a[4] + b[4]
    delta = b[5] - a[5]
    mean = a[5] + delta * b[4] / n
    m2 = a[6] + b[6] + delta * delta * a[4] * b[4] / n
    return (xs, x_json, gs, g_json, n, mean, max(m2, 0.0))
