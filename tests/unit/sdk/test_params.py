import pytest

from metalab._sdk import legacy as metalab
from metalab._sdk.params import RandomSearch, as_source
from metalab.errors import ConfigError


def test_grid_is_the_cartesian_product_in_axis_order():
    points = metalab.grid(lr=[1e-3, 1e-2], depth=[2, 4]).points()
    assert points == [
        {"lr": 1e-3, "depth": 2},
        {"lr": 1e-3, "depth": 4},
        {"lr": 1e-2, "depth": 2},
        {"lr": 1e-2, "depth": 4},
    ]


@pytest.mark.parametrize("axes", [{"lr": []}, {"lr": "abc"}, {"lr": 3}])
def test_grid_rejects_bad_axes(axes):
    with pytest.raises(ConfigError, match="lr"):
        metalab.grid(**axes)


def test_random_is_reproducible_for_a_seed_and_differs_across_seeds():
    def make(seed: int) -> RandomSearch:
        return metalab.random(
            20,
            seed=seed,
            lr=metalab.loguniform(1e-4, 1e-1),
            depth=[2, 4, 8],
            drop=metalab.uniform(0, 0.5),
            width=metalab.randint(1, 3),
            fixed="x",
        )

    assert make(1).points() == make(1).points()
    assert make(1).points() != make(2).points()
    for p in make(3).points():
        assert 1e-4 <= p["lr"] <= 1e-1 and p["depth"] in (2, 4, 8)
        assert 0 <= p["drop"] <= 0.5 and p["width"] in (1, 2, 3) and p["fixed"] == "x"
    assert len(make(1).points()) == 20


def test_random_spec_round_trips_as_json():
    spec = metalab.random(2, seed=5, lr=metalab.loguniform(1e-3, 1e-1), d=[1, 2]).spec()
    assert spec == {
        "random": {"n": 2, "seed": 5, "space": {"lr": {"loguniform": [1e-3, 1e-1]}, "d": [1, 2]}}
    }


@pytest.mark.parametrize("n", [0, -1, True, 1.5])
def test_random_needs_a_positive_count(n):
    with pytest.raises(ConfigError):
        metalab.random(n, x=[1])


def test_explicit_lists_and_shorthands():
    assert metalab.param_list([{"a": 1}, {"a": 2}]).points() == [{"a": 1}, {"a": 2}]
    assert as_source([{"a": 1}]).points() == [{"a": 1}]
    assert as_source({"a": 1}).points() == [{"a": 1}]
    assert as_source(None).points() == [{}]
    with pytest.raises(ConfigError):
        metalab.param_list([1, 2])  # type: ignore[list-item]  # the runtime check under test
    with pytest.raises(ConfigError):
        as_source(42)  # type: ignore[arg-type]  # the runtime check under test


def test_loguniform_rejects_non_positive_bounds():
    with pytest.raises(ConfigError):
        metalab.loguniform(0, 1)
