"""Params: where an experiment's parameter cases come from.

* sources: :func:`grid` (Cartesian product), :func:`random` (replayable sampling from
  :func:`uniform`, :func:`loguniform`, :func:`loguniform_int`, :func:`randint`,
  :func:`choice`), :func:`manual` (explicit cases);
* :func:`with_resolver` validates or derives parameters case by case;
* every source yields :class:`ParamCase` values (the :class:`ParamSource` protocol).
"""

from metalab.params.grid import GridSource, grid
from metalab.params.manual import ManualSource, manual
from metalab.params.random import (
    RandomSource,
    choice,
    loguniform,
    loguniform_int,
    randint,
    random,
    uniform,
)
from metalab.params.resolver import ParamResolver, ResolvedSource, with_resolver
from metalab.params.source import ParamCase, ParamSource

__all__ = [
    "GridSource",
    "ManualSource",
    "ParamCase",
    "ParamResolver",
    "ParamSource",
    "RandomSource",
    "ResolvedSource",
    "choice",
    "grid",
    "loguniform",
    "loguniform_int",
    "manual",
    "randint",
    "random",
    "uniform",
    "with_resolver",
]
