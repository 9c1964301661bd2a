"""Histogram binning and distribution summaries (pure logic)."""

from __future__ import annotations

import statistics

import pytest

from metalab_atlas import histogram
from metalab_atlas.query import Field, QueryError


def test_bins_share_edges_and_count_every_value() -> None:
    pairs = [("4", 1.0), ("4", 2.0), ("16", 3.0), ("16", 5.0), ("4", 5.0)]
    body = histogram.build(pairs, 4)
    assert body["edges"] == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert [s["group"] for s in body["series"]] == ["4", "16"]  # by number, not text
    assert [s["counts"] for s in body["series"]] == [[1, 1, 0, 1], [0, 0, 1, 1]]
    four = body["series"][0]
    assert four["median"] == 2.0 and four["q1"] == 1.5 and four["q3"] == 3.5
    assert four["std"] == pytest.approx(statistics.stdev([1.0, 2.0, 5.0]))
    assert body["total"] == 5


def test_one_value_gets_a_unit_wide_bin_and_no_values_no_bins() -> None:
    body = histogram.build([(None, 3.0), (None, 3.0)], 1)
    assert body["edges"] == [2.5, 3.5] and body["series"][0]["counts"] == [2]
    assert body["series"][0]["std"] == 0.0
    assert histogram.build([], 10) == {"edges": [], "total": 0, "series": []}


def test_bounds() -> None:
    with pytest.raises(QueryError, match="at most 12"):
        histogram.build([(str(i), float(i)) for i in range(13)], 5)
    with pytest.raises(QueryError, match="not numeric"):
        histogram.check_field(Field("core_text", "status"))
    assert not histogram.is_number(True) and not histogram.is_number(float("nan"))
    assert histogram.is_number(2) and not histogram.is_number("2")
