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
from collections.abc import Sequence

from psycopg import sql

from metalab.atlas.pgsql import Expr
from metalab.atlas.query import NON_FINITE, Field

# Per statement (SET LOCAL): merging the three run_id-ordered index scans beats hashing
# 100,000 text keys twice (measured 97 vs 134 ms), and compiling the plan (JIT, which its
# row estimates trigger) costs more than running it (~500 ms).
SETTINGS = (("jit", "off"), ("enable_hashjoin", "off"))
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


def values_plot(experiment_id: str, x: Field, y: Field, group: Field | None) -> Expr:
    """Rows of (group JSON text or NULL, x JSON text, mean, std, n), one per cell."""
    scan = sql.SQL(
        "(SELECT run_id, num, txt FROM run_values WHERE experiment_id = %s AND field = %s{}) {}"
    )
    joined = [
        scan.format(sql.SQL(" AND num IS NOT NULL"), sql.Identifier("yv")),
        sql.SQL(" JOIN "),
        scan.format(sql.SQL(""), sql.Identifier("xv")),
        sql.SQL(" USING (run_id)"),
    ]
    scan_args: list[object] = [experiment_id, _field_name(y), experiment_id, _field_name(x)]
    group_sample, group_keys = sql.SQL("NULL::text"), sql.SQL("")
    if group is not None:
        joined += [
            sql.SQL(" LEFT JOIN "),
            scan.format(sql.SQL(""), sql.Identifier("gv")),
            sql.SQL(" USING (run_id)"),
        ]
        scan_args += [experiment_id, _field_name(group)]
        group_sample, group_keys = sql.SQL("min(gv.run_id)"), sql.SQL(", gv.num, gv.txt")
    cells = sql.SQL(
        "SELECT {} AS gs, min(xv.run_id) AS xs, avg(yv.num) AS mean, "
        "coalesce(stddev_samp(yv.num), 0) AS std, count(*) AS n "
        "FROM {} GROUP BY xv.num, xv.txt{}"
    ).format(group_sample, sql.Composed(joined), group_keys)
    original = sql.SQL(
        "(SELECT (r.{} -> %s)::text FROM runs r WHERE r.experiment_id = %s AND r.run_id = c.{})"
    )
    head: list[object] = []
    group_json: sql.Composable = sql.SQL("NULL::text")
    if group is not None:
        group_json = original.format(sql.Identifier(group.kind), sql.Identifier("gs"))
        head += [group.key, experiment_id]
    x_json = original.format(sql.Identifier(x.kind), sql.Identifier("xs"))
    head += [x.key, experiment_id]
    statement = sql.SQL("SELECT {}, {}, c.mean, c.std, c.n FROM ({}) c").format(
        group_json, x_json, cells
    )
    return Expr(statement, [*head, *scan_args])
