"""Histograms and distribution summaries of one numeric field, optionally per group.

The values are those the plot's ``y`` takes: finite JSON numbers of a param or metric, or a
numeric core column (``seed``, ``attempt``, ``duration_s``). Every group shares one set of
equal-width bins over the values' range, so their counts line up.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from metalab_atlas.evaluate import rank_key
from metalab_atlas.query import Field, QueryError, as_number

DEFAULT_BINS = 20
MAX_BINS = 200
MAX_GROUPS = 12


def check_field(f: Field) -> Field:
    """A field histograms can count: a param, a metric or a numeric core column."""
    if f.kind == "core_text":
        raise QueryError(f"{f.name} is not numeric")
    return f


def _quantile(ordered: list[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(values: list[float]) -> dict[str, Any]:
    """n, mean, sample std (0 for one value), min, quartiles, median and max."""
    ordered = sorted(values)
    n = len(ordered)
    mean = math.fsum(ordered) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in ordered) / (n - 1)) if n > 1 else 0.0
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "min": ordered[0],
        "q1": _quantile(ordered, 0.25),
        "median": _quantile(ordered, 0.5),
        "q3": _quantile(ordered, 0.75),
        "max": ordered[-1],
    }


def edges(low: float, high: float, bins: int) -> list[float]:
    """``bins + 1`` equal-width edges over [low, high] (a unit-wide range around one value)."""
    if high <= low:
        low, high = low - 0.5, high + 0.5
    width = (high - low) / bins
    return [low + i * width for i in range(bins)] + [high]


def counts(values: list[float], bounds: list[float]) -> list[int]:
    """Values per bin; each bin holds [left, right), the last [left, right]."""
    bins = len(bounds) - 1
    low, width = bounds[0], (bounds[-1] - bounds[0]) / bins
    out = [0] * bins
    for v in values:
        i = int((v - low) / width)
        out[min(max(i, 0), bins - 1)] += 1
    return out


def build(
    pairs: Iterable[tuple[str | None, float]],
    bins: int,
    span: tuple[float, float] | None = None,
) -> dict[str, Any]:
    """``{edges, total, series: [{group, counts, n, mean, std, min, q1, median, q3, max}]}``
    from (group text, value) pairs; groups in the plot's order (numbers first). ``span``:
    the range the bins cover (facets share one), else the values' own."""
    groups: dict[str | None, list[float]] = {}
    for group, value in pairs:
        groups.setdefault(group, []).append(value)
    if len(groups) > MAX_GROUPS:
        raise QueryError(f"the group has {len(groups)} values; at most {MAX_GROUPS} allowed")
    everything = [v for values in groups.values() for v in values]
    if not everything:
        return {"edges": [], "total": 0, "series": []}
    low, high = span if span is not None else (min(everything), max(everything))
    bounds = edges(low, high, bins)
    series = [
        {"group": group, "counts": counts(values, bounds), **summary(values)}
        for group, values in sorted(groups.items(), key=lambda kv: _order(kv[0]))
    ]
    return {"edges": bounds, "total": len(everything), "series": series}


def _order(group: str | None) -> tuple[int, float, str]:
    """Groups by number when their text is one (``4`` before ``16``), else by text."""
    number = as_number(group) if group is not None else None
    return rank_key(number if number is not None else group)


def is_number(value: Any) -> bool:
    """A finite JSON number (bools and numeric text excluded), as the plot's ``y``."""
    return (type(value) is float or type(value) is int) and value - value == 0
