"""Param sources: case order, case ids and random draws equal upstream metalab's.

Golden values were produced by upstream metalab for the same sources.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metalab.params import (
    GridSource,
    ManualSource,
    ParamCase,
    RandomSource,
    choice,
    grid,
    loguniform,
    loguniform_int,
    manual,
    randint,
    random,
    uniform,
    with_resolver,
)
from metalab.params.random import Distribution


def _rows(source: Any) -> list[tuple[dict[str, Any], str, list[str]]]:
    return [(case.params, case.case_id, case.tags) for case in source]


def test_grid_order_and_ids_match_upstream() -> None:
    assert _rows(grid(b=[1, 2], a=["x", "y"], c=[0.5])) == [
        ({"a": "x", "b": 1, "c": 0.5}, "f16b83d501ef694e", []),
        ({"a": "x", "b": 2, "c": 0.5}, "0e0193694e2408e1", []),
        ({"a": "y", "b": 1, "c": 0.5}, "70cb37cc7a05848f", []),
        ({"a": "y", "b": 2, "c": 0.5}, "a9f627b0cb5938b8", []),
    ]
    assert _rows(grid()) == [({}, "empty", [])]


SPACE: dict[str, Distribution] = {
    "x": uniform(0, 1),
    "n": loguniform_int(1, 1000),
    "c": choice(["a", "b", "c"]),
    "r": randint(0, 10),
    "l": loguniform(1e-4, 1e-1),
}


def test_random_draws_match_upstream() -> None:
    assert _rows(random(SPACE, n_trials=4, seed=123)) == [
        (
            {"c": "c", "l": 0.0006974468318851038, "n": 29, "r": 3, "x": 0.37107658890151707},
            "86111fe84361827b",
            ["trial_0"],
        ),
        (
            {"c": "b", "l": 0.0007310891304065385, "n": 3, "r": 1, "x": 0.0401425937051092},
            "84b609c64ac73040",
            ["trial_1"],
        ),
        (
            {"c": "c", "l": 0.0004996365077369306, "n": 54, "r": 5, "x": 0.9030417899949028},
            "71c6122697dc0d87",
            ["trial_2"],
        ),
        (
            {"c": "c", "l": 0.03092240744787059, "n": 785, "r": 8, "x": 0.5235973022198384},
            "e9e375c464e39d51",
            ["trial_3"],
        ),
    ]
    negative = random({"x": uniform(-1, 1)}, n_trials=2, seed=-3)
    assert [case.params["x"] for case in negative] == [-0.18399974472465352, 0.42891442418124504]


def test_manual_and_resolved_match_upstream() -> None:
    source = manual([{"lr": 0.01, "batch": 32}, {"lr": 0.1}], tags=["t"])
    assert _rows(source) == [
        ({"lr": 0.01, "batch": 32}, "43212f7da241f845", ["t", "manual_0"]),
        ({"lr": 0.1}, "ef798c648a176fc9", ["t", "manual_1"]),
    ]
    resolved = with_resolver(
        manual([{"x": 1}]), lambda meta, p: {"x": p["x"] * 10, **meta}, context_meta={"m": 1}
    )
    assert _rows(resolved) == [({"x": 10, "m": 1}, "bf2b2c5c04f0a7ef", ["manual_0"])]


def test_manifests_match_upstream_and_round_trip() -> None:
    source = random(SPACE, n_trials=4, seed=123)
    manifest = source.to_manifest_dict()
    assert manifest == {
        "type": "RandomSource",
        "space": {
            "x": {"type": "Uniform", "low": 0, "high": 1},
            "n": {"type": "LogUniformInt", "low": 1, "high": 1000},
            "c": {"type": "Choice", "options": ["a", "b", "c"]},
            "r": {"type": "RandInt", "low": 0, "high": 10},
            "l": {"type": "LogUniform", "low": 1e-4, "high": 1e-1},
        },
        "n_trials": 4,
        "seed": 123,
    }
    assert _rows(RandomSource.from_manifest_dict(manifest)) == _rows(source)
    g = grid(b=[1, 2], a=["x"])
    assert g.to_manifest_dict() == {
        "type": "GridSource",
        "spec": {"b": [1, 2], "a": ["x"]},
        "total_cases": 2,
    }
    assert _rows(GridSource.from_manifest_dict(g.to_manifest_dict())) == _rows(g)
    m = manual([{"a": 1}], tags=["t"])
    assert m.to_manifest_dict() == {
        "type": "ManualSource",
        "cases": [{"a": 1}],
        "tags": ["t"],
        "total_cases": 1,
    }
    assert _rows(ManualSource.from_manifest_dict(m.to_manifest_dict())) == _rows(m)


def test_random_manifest_describes_foreign_distributions() -> None:
    class Const:
        def sample(self, rng: Any) -> int:
            return 4

        def __repr__(self) -> str:
            return "Const()"

    manifest = random({"k": Const()}, n_trials=1, seed=0).to_manifest_dict()
    assert manifest["space"] == {"k": {"type": "Const", "repr": "Const()"}}
    with pytest.raises(ValueError, match="Unknown distribution type: Const"):
        RandomSource.from_manifest_dict(manifest)


def test_log_distributions_need_positive_bounds() -> None:
    with pytest.raises(ValueError, match="loguniform requires positive bounds"):
        loguniform(0, 1)
    with pytest.raises(ValueError, match="loguniform_int requires positive bounds"):
        loguniform_int(1, -2)


grids = st.dictionaries(
    st.text(alphabet="abcdef", min_size=1, max_size=3),
    st.lists(st.integers(-3, 3) | st.text(max_size=2), min_size=0, max_size=3),
    max_size=4,
)


@given(grids)
def test_grid_indexing_agrees_with_iteration(spec: dict[str, list[Any]]) -> None:
    source = grid(**spec)
    cases = list(source)
    assert len(source) == len(cases)
    keys = sorted(spec)
    expected = [
        dict(zip(keys, combo, strict=True)) for combo in itertools.product(*(spec[k] for k in keys))
    ]
    assert [case.params for case in cases] == (expected if keys else [{}])
    for i, case in enumerate(cases):
        assert source[i] == case
        if keys:
            assert source[i - len(cases)] == case
    with pytest.raises(IndexError):
        source[len(cases)]


@given(st.integers(-(10**12), 10**12), st.integers(1, 12), st.integers(0, 11))
def test_random_trials_are_independent_of_access_order(seed: int, n: int, probe: int) -> None:
    source = random({"u": uniform(-2, 2), "k": randint(0, 9)}, n_trials=n, seed=seed)
    cases = list(source)
    index = probe % n
    assert (
        random({"u": uniform(-2, 2), "k": randint(0, 9)}, n_trials=n, seed=seed)[index]
        == cases[index]
    )
    assert source[index - n] == cases[index]
    assert all(-2 <= c.params["u"] <= 2 and 0 <= c.params["k"] <= 9 for c in cases)
    with pytest.raises(IndexError):
        source[n]


def test_manual_indexing() -> None:
    source = manual([{"x": 1}, {"x": 2}])
    assert source[-1] == ParamCase({"x": 2}, source[1].case_id, ["manual_1"])
    with pytest.raises(IndexError, match="out of range for ManualSource with 2 cases"):
        source[2]
    assert repr(source) == "ManualSource(2 cases)"


def test_resolver_objects_and_context() -> None:
    class Doubler:
        def resolve(
            self, context_meta: dict[str, Any], params_raw: dict[str, Any]
        ) -> dict[str, Any]:
            return {"x": params_raw["x"] * context_meta.get("factor", 2)}

    source = with_resolver(grid(x=[1, 2]), Doubler())
    assert [case.params for case in source] == [{"x": 2}, {"x": 4}]
    assert [case.params for case in source.with_context({"factor": 5})] == [{"x": 5}, {"x": 10}]
    assert len(source) == 2
    assert repr(source) == "ResolvedSource(GridSource(x=[1, 2]))"
