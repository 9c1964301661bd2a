"""Experiment YAML files → a `metalab.Experiment`, its store and its executor.

::

    name: sweep
    version: "1.0"                      # default "1"
    operation: "mypkg.train:train"      # a @metalab.operation, imported by reference
    context: {dataset: mnist}           # optional
    params:                             # exactly one of grid, random, manual
      grid: {lr: [0.001, 0.01], depth: [2, 4]}
      # random: {n_trials: 20, seed: 0, space: {lr: {loguniform: [1e-4, 1e-1]}}}
      # manual: [{lr: 0.1}, {lr: 0.2}]
    seeds: {base: 0, replicates: 3}     # or a number of replicates (base 0)
    store: discover                     # or a locator or path; default: metalab.run's
    executor: {type: slurm, time: "4:00:00"}   # or "local", "thread", "process", ...

Every key is checked: an unknown one is a `ConfigError` naming the file and the dotted key,
with a did-you-mean hint; so are wrong types. ``config.run()`` calls `metalab.run`.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from metalab.errors import ConfigError

if TYPE_CHECKING:
    from metalab.executor.handle import RunHandle
    from metalab.experiment import Experiment
    from metalab.params.random import Distribution
    from metalab.params.source import ParamSource

__all__ = ["ExperimentConfig", "load_experiment_config", "config_from_document"]

TOP_KEYS = (
    "name",
    "version",
    "operation",
    "context",
    "params",
    "seeds",
    "description",
    "tags",
    "metadata",
    "store",
    "executor",
)
RANDOM_KEYS = ("n_trials", "seed", "space")
SEED_KEYS = ("base", "replicates")
DISTRIBUTIONS = ("uniform", "loguniform", "loguniform_int", "randint", "choice")
_SBATCH_SHORTCUTS = ("mail_user", "mail_type")
_PATTERNS = {  # SLURM values sbatch would reject only after the sweep is planned
    "time": re.compile(r"^(\d+-)?\d{1,3}(:\d{1,2}){0,2}$|^UNLIMITED$|^\d+-\d{1,2}$"),
    "memory": re.compile(r"^\d+(\.\d+)?[KMGTkmgt]?[Bb]?$"),
    "partition": re.compile(r"^[A-Za-z0-9_.,+-]+$"),
}


@dataclass(frozen=True)
class ExperimentConfig:
    """A loaded experiment file: the experiment, its store and its executor settings."""

    experiment: Experiment
    store: str | None = None
    executor_type: str | None = None
    executor_settings: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def make_executor(self) -> Any:
        """The executor: the ``.metalab.toml`` profile's defaults, then this file's settings
        (`metalab.resolve_executor`); None without an ``executor`` key."""
        if self.executor_type is None:
            return None
        from metalab.executor.config import resolve_executor

        return resolve_executor(self.executor_type, self.executor_settings)

    def run(self, **kwargs: Any) -> RunHandle:
        """`metalab.run` with this file's store and executor (``kwargs`` are passed on)."""
        from metalab.runner import run

        return run(self.experiment, store=self.store, executor=self.make_executor(), **kwargs)


def load_experiment_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML file (`ConfigError`, a ValueError, if bad)."""
    import yaml

    file = Path(path)
    where = str(file)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=where) from None
    except UnicodeDecodeError:
        raise ConfigError("not valid UTF-8", file=where) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"invalid YAML{at}: {getattr(exc, 'problem', exc)}", file=where) from None
    return config_from_document(doc, where, file)


class _Checker:
    """Raises `ConfigError` for one file, with dotted keys."""

    def __init__(self, where: str) -> None:
        self.where = where

    def fail(self, problem: str, key: str | None = None) -> NoReturn:
        raise ConfigError(problem, file=self.where, key=key)

    def keys(self, doc: Mapping[Any, Any], valid: tuple[str, ...], prefix: str = "") -> None:
        for key in doc:
            if key not in valid:
                found = difflib.get_close_matches(str(key), list(valid), n=1, cutoff=0.5)
                hint = f" (did you mean {found[0]!r}?)" if found else ""
                self.fail(f"unknown key{hint}", f"{prefix}{key}")

    def mapping(self, value: Any, key: str, what: str) -> Mapping[Any, Any]:
        if not isinstance(value, Mapping):
            self.fail(f"must be a mapping of {what}", key)
        return value

    def integer(self, value: Any, key: str, minimum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"must be an integer (got {value!r})", key)
        if minimum is not None and value < minimum:
            self.fail(f"must be an integer >= {minimum} (got {value!r})", key)
        return value


def config_from_document(doc: Any, where: str, path: Path | None = None) -> ExperimentConfig:
    """An `ExperimentConfig` from a parsed YAML document; ``where`` names it in errors."""
    check = _Checker(where)
    if not isinstance(doc, Mapping):
        check.fail("the document must be a mapping of experiment settings")
    check.keys(doc, TOP_KEYS)
    for key in ("name", "operation"):
        if key not in doc:
            check.fail("required key is missing", key)
        if not isinstance(doc[key], str) or not doc[key]:
            check.fail("must be a non-empty string", key)
    version = doc.get("version", "1")
    if isinstance(version, bool) or not isinstance(version, str | int | float):
        check.fail("must be a string such as '1.0'", "version")
    context = check.mapping(doc.get("context", {}), "context", "context values")
    metadata = check.mapping(doc.get("metadata", {}), "metadata", "metadata values")
    tags = doc.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        check.fail("must be a list of strings", "tags")
    description = doc.get("description")
    if description is not None and not isinstance(description, str):
        check.fail("must be a string", "description")
    store = doc.get("store")
    if store is not None and not isinstance(store, str):
        check.fail("must be a locator string, a path or 'discover'", "store")
    executor_type, settings = _executor(doc.get("executor"), check)

    from metalab.experiment import Experiment

    experiment = Experiment(
        name=doc["name"],
        version=str(version),
        context=dict(context),
        operation=_operation(doc["operation"], check),
        params=_params(doc.get("params"), check),
        seeds=_seeds(doc.get("seeds", 1), check),
        description=description,
        tags=list(tags),
        metadata=dict(metadata),
    )
    return ExperimentConfig(experiment, store, executor_type, settings, path)


def _operation(ref: str, check: _Checker) -> Any:
    from metalab.operation import import_operation

    if ":" not in ref:
        check.fail("must be 'module:function' (e.g. 'mypkg.train:train')", "operation")
    try:
        return import_operation(ref)
    except (ImportError, AttributeError) as exc:
        check.fail(f"cannot import {ref!r}: {exc}", "operation")
    except TypeError:
        check.fail(f"{ref!r} is not decorated with @metalab.operation", "operation")


def _seeds(value: Any, check: _Checker) -> Any:
    from metalab.seeds import seeds

    if isinstance(value, Mapping):
        check.keys(value, SEED_KEYS, "seeds.")
        base = check.integer(value.get("base", 0), "seeds.base")
        replicates = check.integer(value.get("replicates", 1), "seeds.replicates", 1)
        return seeds(base=base, replicates=replicates)
    return seeds(base=0, replicates=check.integer(value, "seeds", 1))


def _params(value: Any, check: _Checker) -> ParamSource:
    from metalab.params import grid, manual

    if value is None:
        return manual([{}])
    if not isinstance(value, Mapping) or len(value) != 1:
        check.fail("must be a mapping with exactly one of: grid, random, manual", "params")
    ((kind, body),) = value.items()
    if kind == "grid":
        if not isinstance(body, Mapping) or not body:
            check.fail("must map parameter names to lists of values", "params.grid")
        for name, values in body.items():
            if not isinstance(values, list) or not values:
                check.fail("must be a non-empty list of values", f"params.grid.{name}")
        return grid(**{str(k): v for k, v in body.items()})
    if kind == "manual":
        if not isinstance(body, list) or not body:
            check.fail("must be a non-empty list of mappings", "params.manual")
        for i, item in enumerate(body):
            if not isinstance(item, Mapping):
                check.fail("must be a mapping of parameter values", f"params.manual[{i}]")
        return manual([dict(item) for item in body])
    if kind == "random":
        return _random(body, check)
    found = difflib.get_close_matches(str(kind), ["grid", "random", "manual"], n=1, cutoff=0.5)
    hint = f" (did you mean {found[0]!r}?)" if found else ""
    check.fail(
        f"unknown parameter source {kind!r}{hint}; expected grid, random or manual", "params"
    )


def _random(body: Any, check: _Checker) -> ParamSource:
    from metalab.params import random

    body = check.mapping(body, "params.random", "n_trials, seed and space")
    check.keys(body, RANDOM_KEYS, "params.random.")
    n_trials = check.integer(body.get("n_trials"), "params.random.n_trials", 1)
    seed = check.integer(body.get("seed", 0), "params.random.seed")
    space = body.get("space")
    if not isinstance(space, Mapping) or not space:
        check.fail("must map parameter names to distributions", "params.random.space")
    parsed = {
        str(name): _distribution(dist, f"params.random.space.{name}", check)
        for name, dist in space.items()
    }
    return random(space=parsed, n_trials=n_trials, seed=seed)


def _distribution(dist: Any, key: str, check: _Checker) -> Distribution:
    from metalab.params import choice, loguniform, loguniform_int, randint, uniform

    if not isinstance(dist, Mapping):
        if isinstance(dist, list) and dist:
            return choice(dist)
        return choice([dist])
    if len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
        check.fail(f"must be one of {{{', '.join(DISTRIBUTIONS)}: ...}}, a list or a constant", key)
    ((name, args),) = dist.items()
    if name == "choice":
        if not isinstance(args, list) or not args:
            check.fail("choice needs a non-empty list", key)
        return choice(args)
    if not (
        isinstance(args, list)
        and len(args) == 2
        and all(isinstance(a, int | float) and not isinstance(a, bool) for a in args)
    ):
        check.fail(f"{name} needs [low, high]", key)
    low, high = args
    if name in ("randint", "loguniform_int") and not all(isinstance(a, int) for a in args):
        check.fail(f"{name} needs integer bounds (got {low!r}, {high!r})", key)
    try:
        if name == "uniform":
            return uniform(float(low), float(high))
        if name == "loguniform":
            return loguniform(float(low), float(high))
        if name == "loguniform_int":
            return loguniform_int(int(low), int(high))
        return randint(int(low), int(high))
    except ValueError as exc:
        check.fail(str(exc), key)


def _executor(value: Any, check: _Checker) -> tuple[str | None, dict[str, Any]]:
    """The executor type and its settings, each checked against the type's config fields."""
    from metalab.executor.config import ExecutorConfigRegistry

    if value is None:
        return None, {}
    if isinstance(value, str):
        value = {"type": value}
    settings = dict(check.mapping(value, "executor", "executor settings with a 'type'"))
    kind = settings.pop("type", None)
    if not isinstance(kind, str):
        check.fail("required key is missing (e.g. thread, process, slurm)", "executor.type")
    config_class = ExecutorConfigRegistry.get(kind)
    if config_class is None:
        known = ExecutorConfigRegistry.types()
        found = difflib.get_close_matches(kind, known, n=1, cutoff=0.5)
        hint = f" (did you mean {found[0]!r}?)" if found else ""
        check.fail(
            f"unknown executor type {kind!r}{hint}; known: {', '.join(known)}", "executor.type"
        )
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    hints = typing.get_type_hints(config_class)
    allowed = (*fields, *(_SBATCH_SHORTCUTS if "extra_sbatch" in fields else ()))
    check.keys(settings, tuple(allowed), "executor.")
    for key, setting in settings.items():
        if key in hints and not _fits(setting, hints[key]):
            check.fail(f"must be {_type_name(hints[key])} (got {setting!r})", f"executor.{key}")
        pattern = _PATTERNS.get(key) if kind == "slurm" else None
        if pattern is not None and isinstance(setting, str) and not pattern.match(setting):
            check.fail(f"invalid value {setting!r}", f"executor.{key}")
    return kind, settings


def _fits(value: Any, hint: Any) -> bool:
    """Whether a YAML value fits a config field's type (a string also fits a list[str])."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arm) for arm in typing.get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if origin is list:
        (item,) = typing.get_args(hint) or (Any,)
        if isinstance(value, str) and item is str:
            return True
        return isinstance(value, list) and all(_fits(v, item) for v in value)
    if origin is dict:
        return isinstance(value, Mapping) and all(isinstance(k, str) for k in value)
    if hint is Any:
        return True
    return isinstance(value, hint) if isinstance(hint, type) else True


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(hint))
    if hint is type(None):
        return "null"
    if origin is list:
        return "a list (or one string)"
    if origin is dict:
        return "a mapping"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        hint, str(hint)
    )
