"""Learning curves: one stepped metric of many runs, per run and aggregated per group.

A request is bounded: at most `MAX_RUNS` runs (the first matching ones in ``run_id`` order)
and at most ``points`` points per run (evenly spaced, the first and last step always kept).
Each group (a value of the grouping field, e.g. a learning rate, its seeds being the runs)
gets, per step, the mean, sample standard deviation, minimum, maximum and count of the
runs' finite values. Smoothing and log scales are the page's business.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any

from metalab_atlas.evaluate import rank_key, text_of
from metalab_atlas.query import Field, QueryError

MAX_RUNS = 1000
DEFAULT_RUNS = 200
MAX_POINTS = 2000
DEFAULT_POINTS = 500
NAME_SAMPLE = 20  # runs whose step files say which stepped metrics exist
METRIC = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/:-]{0,127}")

Curve = list[list[Any]]


def check_metric(name: str) -> str:
    if not METRIC.fullmatch(name):
        raise QueryError("metric must be 1-128 letters, digits or . _ / : -")
    return name


def default_metric(names: list[str]) -> str:
    """The metric shown first: the first one named like a loss, else the first."""
    losses = [n for n in names if "loss" in n.lower()]
    return (losses or names or [""])[0]


def bounded(value: int, low: int, high: int, what: str) -> int:
    if not low <= value <= high:
        raise QueryError(f"{what} must be between {low} and {high}")
    return value


def thin(curve: Curve, points: int) -> Curve:
    """At most ``points`` evenly spaced points of ``curve`` (first and last kept)."""
    n = len(curve)
    if n <= points:
        return curve
    if points == 1:
        return [curve[-1]]
    return [curve[round(i * (n - 1) / (points - 1))] for i in range(points)]


def finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def clean(curve: Iterable[Any]) -> Curve:
    """``[[step, value], …]`` sorted by step, one point per integer step, values finite or
    None."""
    if isinstance(curve, list) and _tidy(curve):
        return curve
    out: dict[int, float | None] = {}
    for item in curve:
        if isinstance(item, list | tuple) and len(item) == 2 and finite(item[0]) is not None:
            out[int(item[0])] = finite(item[1])
    return [[s, v] for s, v in sorted(out.items())]


def _tidy(curve: list[Any]) -> bool:
    """Whether ``curve`` is already clean: pairs, integer steps strictly increasing, finite
    numeric values (the common case, checked with C-level passes)."""
    if not curve or set(map(type, curve)) != {list} or set(map(len, curve)) != {2}:
        return False
    steps = [p[0] for p in curve]
    values = [p[1] for p in curve]
    if set(map(type, steps)) != {int} or not set(map(type, values)) <= {float, int}:
        return False
    if steps != sorted(steps) or len(set(steps)) != len(steps):
        return False
    try:
        return math.isfinite(math.fsum(values))
    except OverflowError:
        return False


def group_stats(curves: list[Curve]) -> dict[str, list[Any]]:
    """Per step over ``curves``: mean, sample std, min, max and count of finite values."""
    cells: dict[int, list[float]] = {}
    for curve in curves:
        for step, value in curve:
            if value is not None:
                cells.setdefault(step, []).append(value)
    steps = sorted(cells)
    out: dict[str, list[Any]] = {"steps": steps, "mean": [], "std": [], "min": [], "max": []}
    out["n"] = []
    for step in steps:
        values = cells[step]
        n = len(values)
        mean = math.fsum(values) / n
        std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        out["mean"].append(mean)
        out["std"].append(std)
        out["min"].append(min(values))
        out["max"].append(max(values))
        out["n"].append(n)
    return out


def build(
    rows: list[dict[str, Any]],
    group: Field | None,
    read: Callable[[list[str]], dict[str, Curve]],
    points: int,
) -> dict[str, Any]:
    """The answer for ``rows`` (the selected runs): ``runs`` (each run's thinned curve) and
    ``groups`` (statistics over every run of a group, from the full curves)."""
    curves = {run_id: clean(c) for run_id, c in read([r["run_id"] for r in rows]).items()}
    by_group: dict[str | None, tuple[Any, list[Curve]]] = {}
    runs: list[dict[str, Any]] = []
    for row in rows:
        curve = curves.get(row["run_id"])
        if not curve:
            continue
        value = _value(row, group)
        label = text_of(value)
        by_group.setdefault(label, (value, []))[1].append(curve)
        shown = thin(curve, points)
        runs.append(
            {
                "run_id": row["run_id"],
                "status": row.get("status"),
                "group": label,
                "steps": [p[0] for p in shown],
                "values": [p[1] for p in shown],
            }
        )
    groups = []
    for label, (_, members) in sorted(by_group.items(), key=lambda kv: rank_key(kv[1][0])):
        stats = group_stats(members)
        keep = thin([[i] for i in range(len(stats["steps"]))], points)
        stats = {k: [v[i[0]] for i in keep] for k, v in stats.items()}
        groups.append({"group": label, "runs": len(members), **stats})
    return {"runs": runs, "groups": groups}


def _value(row: dict[str, Any], group: Field | None) -> Any:
    if group is None:
        return None
    if group.kind in ("params", "metrics"):
        return (row.get(group.kind) or {}).get(group.key)
    return row.get(group.key)
