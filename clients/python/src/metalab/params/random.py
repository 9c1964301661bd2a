"""RandomSource: replayable random sampling of a parameter space.

Trial ``i`` draws every key (in sorted key order) from
``random.Random(seed * 1_000_000_007 + i)``, so any trial can be produced alone, in any
order, and always equals the same trial of a full iteration.
"""

from __future__ import annotations

import math
import random as _random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from metalab._ids import fingerprint_params
from metalab.params.source import ParamCase

_TRIAL_STRIDE = 1_000_000_007


class Distribution(Protocol):
    """A parameter distribution: draws one value from a ``random.Random``."""

    def sample(self, rng: _random.Random) -> Any: ...


class _Bounded:
    """A distribution between ``low`` and ``high``: its manifest entry names its class."""

    low: float
    high: float

    def to_manifest_dict(self) -> dict[str, Any]:
        return {"type": type(self).__name__, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class Uniform(_Bounded):
    """Uniform over ``[low, high)``."""

    low: float
    high: float

    def sample(self, rng: _random.Random) -> float:
        return rng.uniform(self.low, self.high)


@dataclass(frozen=True)
class LogUniform(_Bounded):
    """Log-uniform over ``[low, high)`` (both positive)."""

    low: float
    high: float

    def sample(self, rng: _random.Random) -> float:
        return math.exp(rng.uniform(math.log(self.low), math.log(self.high)))


@dataclass(frozen=True)
class LogUniformInt(_Bounded):
    """Log-uniform over the integers ``[low, high]`` (a rounded log-uniform draw)."""

    low: int
    high: int

    def sample(self, rng: _random.Random) -> int:
        return round(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))


@dataclass(frozen=True)
class RandInt(_Bounded):
    """Uniform over the integers ``[low, high]``."""

    low: int
    high: int

    def sample(self, rng: _random.Random) -> int:
        return rng.randint(self.low, self.high)


@dataclass(frozen=True)
class Choice:
    """Uniform choice among ``options``."""

    options: tuple[Any, ...]

    def sample(self, rng: _random.Random) -> Any:
        return rng.choice(self.options)

    def to_manifest_dict(self) -> dict[str, Any]:
        return {"type": "Choice", "options": list(self.options)}


def uniform(low: float, high: float) -> Uniform:
    """Uniform distribution over ``[low, high)``."""
    return Uniform(low=low, high=high)


def loguniform(low: float, high: float) -> LogUniform:
    """Log-uniform distribution over ``[low, high)``.

    Raises:
        ValueError: a bound is not positive.
    """
    if low <= 0 or high <= 0:
        raise ValueError("loguniform requires positive bounds")
    return LogUniform(low=low, high=high)


def loguniform_int(low: int, high: int) -> LogUniformInt:
    """Log-uniform distribution over the integers ``[low, high]``.

    Raises:
        ValueError: a bound is not positive.
    """
    if low <= 0 or high <= 0:
        raise ValueError("loguniform_int requires positive bounds")
    return LogUniformInt(low=low, high=high)


def randint(low: int, high: int) -> RandInt:
    """Uniform distribution over the integers ``[low, high]``."""
    return RandInt(low=low, high=high)


def choice(options: Sequence[Any]) -> Choice:
    """Uniform choice among ``options``."""
    return Choice(options=tuple(options))


def _bounds(cls: Callable[..., Distribution]) -> Callable[[dict[str, Any]], Distribution]:
    return lambda entry: cls(low=entry["low"], high=entry["high"])


_FROM_MANIFEST: dict[str, Callable[[dict[str, Any]], Distribution]] = {
    "Uniform": _bounds(Uniform),
    "LogUniform": _bounds(LogUniform),
    "LogUniformInt": _bounds(LogUniformInt),
    "RandInt": _bounds(RandInt),
    "Choice": lambda entry: Choice(options=tuple(entry["options"])),
}


def _describe(dist: Any) -> Any:
    """A distribution's manifest entry: its own ``to_manifest_dict()``, else type and repr."""
    if hasattr(dist, "to_manifest_dict"):
        return dist.to_manifest_dict()
    entry: dict[str, Any] = {"type": type(dist).__name__, "repr": repr(dist)}
    if hasattr(dist, "__len__"):
        try:
            entry["total_cases"] = len(dist)
        except TypeError:
            pass
    return entry


class RandomSource:
    """``n_trials`` random cases drawn from ``space``, reproducible from ``seed``.

    Indexing is O(1): trial ``i`` is generated from its own seed, independent of the others.
    """

    def __init__(self, space: dict[str, Distribution], n_trials: int, seed: int) -> None:
        self._space = space
        self._n_trials = n_trials
        self._seed = seed
        self._keys = sorted(space)

    def _trial(self, index: int) -> ParamCase:
        rng = _random.Random(self._seed * _TRIAL_STRIDE + index)
        params = {key: self._space[key].sample(rng) for key in self._keys}
        return ParamCase(
            params=params,
            case_id=fingerprint_params(params),
            tags=[f"trial_{index}"],
        )

    def __iter__(self) -> Iterator[ParamCase]:
        return (self._trial(i) for i in range(self._n_trials))

    def __len__(self) -> int:
        return self._n_trials

    def __getitem__(self, index: int) -> ParamCase:
        """Return trial ``index`` (negative indices count from the end)."""
        position = index + self._n_trials if index < 0 else index
        if not 0 <= position < self._n_trials:
            raise IndexError(f"Index {position} out of range [0, {self._n_trials})")
        return self._trial(position)

    def __repr__(self) -> str:
        return f"RandomSource(n_trials={self._n_trials}, seed={self._seed})"

    def to_manifest_dict(self) -> dict[str, Any]:
        """Return ``{"type": "RandomSource", "space", "n_trials", "seed"}``."""
        return {
            "type": "RandomSource",
            "space": {key: _describe(dist) for key, dist in self._space.items()},
            "n_trials": self._n_trials,
            "seed": self._seed,
        }

    @classmethod
    def from_manifest_dict(cls, manifest: dict[str, Any]) -> RandomSource:
        """Rebuild the source from :meth:`to_manifest_dict` output.

        Raises:
            ValueError: the space names a distribution type other than the built-in ones.
        """
        space: dict[str, Distribution] = {}
        for key, entry in manifest["space"].items():
            build = _FROM_MANIFEST.get(entry["type"])
            if build is None:
                raise ValueError(f"Unknown distribution type: {entry['type']}")
            space[key] = build(entry)
        return cls(space=space, n_trials=manifest["n_trials"], seed=manifest["seed"])


def random(space: dict[str, Distribution], n_trials: int, seed: int) -> RandomSource:
    """Return a :class:`RandomSource` of ``n_trials`` draws from ``space``.

    Example: ``random({"lr": loguniform(1e-4, 1e-1), "opt": choice(["adam", "sgd"])},
    n_trials=20, seed=123)``.
    """
    return RandomSource(space=space, n_trials=n_trials, seed=seed)
