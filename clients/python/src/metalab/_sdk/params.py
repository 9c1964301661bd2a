"""Parameter sources: a grid, seeded random draws, or an explicit list of points.

Every source is pure data: ``points()`` returns the same list of dicts every time, and
``spec()`` describes the source as JSON (it is stored in ``experiment.json``).
"""

from __future__ import annotations

import itertools
import math
import random as _random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from metalab.errors import ConfigError

Params = dict[str, Any]


@runtime_checkable
class ParamSource(Protocol):
    def points(self) -> list[Params]: ...

    def spec(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Grid:
    """The cartesian product of the axes, in the order the axes were given."""

    axes: Mapping[str, Sequence[Any]]

    def __post_init__(self) -> None:
        for name, values in self.axes.items():
            if isinstance(values, str | bytes) or not isinstance(values, Sequence):
                raise ConfigError(f"grid axis {name!r} must be a list of values")
            if not values:
                raise ConfigError(f"grid axis {name!r} is empty")

    def points(self) -> list[Params]:
        names = list(self.axes)
        return [
            dict(zip(names, combo, strict=True))
            for combo in itertools.product(*(list(self.axes[n]) for n in names))
        ]

    def spec(self) -> dict[str, Any]:
        return {"grid": {k: list(v) for k, v in self.axes.items()}}


@dataclass(frozen=True)
class Choice:
    values: Sequence[Any]

    def draw(self, rng: _random.Random) -> Any:
        return self.values[rng.randrange(len(self.values))]

    def spec(self) -> dict[str, Any]:
        return {"choice": list(self.values)}


@dataclass(frozen=True)
class Uniform:
    low: float
    high: float

    def draw(self, rng: _random.Random) -> Any:
        return rng.uniform(self.low, self.high)

    def spec(self) -> dict[str, Any]:
        return {"uniform": [self.low, self.high]}


@dataclass(frozen=True)
class LogUniform:
    low: float
    high: float

    def __post_init__(self) -> None:
        if self.low <= 0 or self.high <= 0:
            raise ConfigError("loguniform bounds must be > 0")

    def draw(self, rng: _random.Random) -> Any:
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))

    def spec(self) -> dict[str, Any]:
        return {"loguniform": [self.low, self.high]}


@dataclass(frozen=True)
class RandInt:
    low: int
    high: int  # inclusive

    def draw(self, rng: _random.Random) -> Any:
        return rng.randint(self.low, self.high)

    def spec(self) -> dict[str, Any]:
        return {"randint": [self.low, self.high]}


Distribution = Choice | Uniform | LogUniform | RandInt
DISTRIBUTIONS: dict[str, type[Distribution]] = {
    "choice": Choice,
    "uniform": Uniform,
    "loguniform": LogUniform,
    "randint": RandInt,
}


@dataclass(frozen=True)
class RandomSearch:
    """``n`` points drawn from ``space`` with a private RNG seeded by ``seed``.

    A plain list in ``space`` is a `Choice`; a scalar is a constant.
    """

    space: Mapping[str, Any]
    n: int
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.n, bool) or not isinstance(self.n, int) or self.n < 1:
            raise ConfigError(f"random search needs n >= 1 (got {self.n!r})")

    def points(self) -> list[Params]:
        rng = _random.Random(self.seed)
        dists = {k: _as_distribution(v) for k, v in self.space.items()}
        return [
            {k: (d.draw(rng) if d is not None else self.space[k]) for k, d in dists.items()}
            for _ in range(self.n)
        ]

    def spec(self) -> dict[str, Any]:
        space = {k: (v.spec() if isinstance(v, Distribution) else v) for k, v in self.space.items()}
        return {"random": {"n": self.n, "seed": self.seed, "space": space}}


def _as_distribution(value: Any) -> Distribution | None:
    if isinstance(value, Distribution):
        return value
    if isinstance(value, list | tuple):
        return Choice(list(value))
    return None


@dataclass(frozen=True)
class ParamList:
    """An explicit list of parameter points."""

    items: Sequence[Mapping[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i, item in enumerate(self.items):
            if not isinstance(item, Mapping):
                raise ConfigError(f"parameter point #{i} must be a mapping (got {item!r})")

    def points(self) -> list[Params]:
        return [dict(p) for p in self.items]

    def spec(self) -> dict[str, Any]:
        return {"list": [dict(p) for p in self.items]}


def grid(**axes: Sequence[Any]) -> Grid:
    """``grid(lr=[1e-3, 1e-2], depth=[2, 4])``: every combination (4 points)."""
    return Grid(axes)


def random(n: int, seed: int = 0, **space: Any) -> RandomSearch:
    """``random(10, seed=0, lr=loguniform(1e-4, 1e-1), depth=[2, 4])``: 10 seeded draws."""
    return RandomSearch(space, n, seed)


def param_list(items: Sequence[Mapping[str, Any]]) -> ParamList:
    """An explicit list of points: ``param_list([{"lr": 0.1}, {"lr": 0.2}])``."""
    return ParamList(list(items))


def choice(values: Sequence[Any]) -> Choice:
    return Choice(list(values))


def uniform(low: float, high: float) -> Uniform:
    return Uniform(low, high)


def loguniform(low: float, high: float) -> LogUniform:
    return LogUniform(low, high)


def randint(low: int, high: int) -> RandInt:
    return RandInt(low, high)


def as_source(
    params: ParamSource | Sequence[Mapping[str, Any]] | Mapping[str, Any] | None,
) -> ParamSource:
    """Accept a source, a list of dicts (explicit points), a dict (one point) or None (``{}``)."""
    if params is None:
        return ParamList([{}])
    if isinstance(params, ParamSource):
        return params
    if isinstance(params, Mapping):
        return ParamList([params])
    if isinstance(params, Sequence) and not isinstance(params, str | bytes):
        return ParamList(list(params))
    raise ConfigError(f"params must be grid(...), random(...), or a list of dicts (got {params!r})")
