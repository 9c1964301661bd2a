"""Plot cells computed in parts (two ranges of run ids) combine into the whole's cells."""

from __future__ import annotations

import statistics
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from metalab_atlas.pgplot import merge_cells, split_point

RUN = st.text(alphabet="0123456789abcdef", min_size=1, max_size=6)
VALUE = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
ROW = st.tuples(RUN, st.sampled_from([1.0, 2.0]), st.sampled_from(["u", None]), VALUE)


def _partial(rows: list[tuple[str, float, str | None, float]]) -> list[tuple[Any, ...]]:
    """What `values_plot` returns for ``rows`` of (run id, x, group, y)."""
    cells: dict[tuple[Any, ...], list[tuple[str, float]]] = {}
    for run, x, group, y in rows:
        cells.setdefault((x, None, None, group), []).append((run, y))
    out = []
    for (x, _, _, group), values in cells.items():
        ys = [y for _, y in values]
        first = min(run for run, _ in values)
        mean = statistics.fmean(ys)
        out.append(
            (
                x,
                None,
                None,
                group,
                first,
                f"x@{first}",
                first if group else None,
                f"g@{first}" if group else None,
                len(ys),
                mean,
                statistics.pvariance(ys) * len(ys),
            )
        )
    return out


@given(st.lists(ROW, max_size=40), st.data())
def test_parts_merge_into_the_whole(
    rows: list[tuple[str, float, str | None, float]], data: st.DataObject
) -> None:
    unique = list({run: (run, x, g, y) for run, x, g, y in rows}.values())
    point = data.draw(RUN)
    parts = [
        _partial([r for r in unique if r[0] < point]),
        _partial([r for r in unique if r[0] >= point]),
    ]
    merged = {(row[1], row[0]): row for row in merge_cells(parts)}
    whole = {(row[1], row[0]): row for row in merge_cells([_partial(unique)])}
    assert merged.keys() == whole.keys()
    for key, (_, _, mean, std, n) in whole.items():
        assert merged[key][4] == n
        assert abs(merged[key][2] - mean) <= 1e-6 * (1 + abs(mean))
        assert abs(merged[key][3] - std) <= 1e-6 * (1 + std)


@given(
    st.lists(RUN, min_size=1, max_size=30).map(sorted),
    st.lists(RUN, max_size=30).map(sorted),
)
def test_split_point_lies_inside_the_runs(runs: list[str], histogram: list[str]) -> None:
    first, last = runs[0], runs[-1]
    point = split_point(first, last, histogram)
    if point is not None:
        assert first < point <= last and point in histogram
    assert split_point(None, None, histogram) is None
    assert split_point(first, last, None) is None
