"""Experiment YAML files → `Experiment`, store and executor settings.

::

    name: sweep
    operation: "mypkg.train:train"
    params: {grid: {lr: [0.001, 0.01], depth: [2, 4]}}   # or {random: {...}} or {list: [...]}
    seeds: 3
    store: discover
    executor: {type: slurm, gpus: 1, time: "4:00:00"}

Every validation error names the file and the dotted key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metalab._sdk.experiment import Experiment
from metalab._sdk.params import (
    DISTRIBUTIONS,
    Choice,
    Distribution,
    Grid,
    LogUniform,
    ParamList,
    ParamSource,
    RandInt,
    RandomSearch,
    Uniform,
)
from metalab.errors import ConfigError

TOP_KEYS = (
    "name",
    "operation",
    "params",
    "seeds",
    "seed_base",
    "description",
    "tags",
    "store",
    "executor",
)
RANDOM_KEYS = ("n", "seed", "space")


@dataclass(frozen=True)
class ExperimentConfig:
    experiment: Experiment
    store: str | None
    executor_type: str | None
    executor_settings: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def make_executor(self) -> Any:
        """The executor: `.metalab.toml` profile defaults merged with this file's settings."""
        if self.executor_type is None:
            return None
        from metalab._sweep.resolve import resolve_executor

        try:
            return resolve_executor(self.executor_type, self.executor_settings)
        except ConfigError as exc:
            key = (
                f"executor.{exc.key}" if exc.key and not exc.key.startswith("executor") else exc.key
            )
            raise ConfigError(
                exc.problem, file=str(self.path) if self.path else exc.file, key=key
            ) from None

    def run(self, **kwargs: Any) -> Any:
        from metalab._sdk.run import run

        return run(self.experiment, store=self.store, executor=self.make_executor(), **kwargs)


def load_experiment_config(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment YAML file."""
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


def config_from_document(doc: Any, where: str, path: Path | None = None) -> ExperimentConfig:
    def fail(problem: str, key: str | None = None) -> ConfigError:
        return ConfigError(problem, file=where, key=key)

    if not isinstance(doc, Mapping):
        raise fail("the document must be a mapping of experiment settings")
    _check_keys(doc, TOP_KEYS, "", fail)
    for key in ("name", "operation"):
        if not isinstance(doc.get(key), str) or not doc.get(key):
            raise fail("required key is missing" if key not in doc else "must be a string", key)
    source = _params(doc.get("params"), fail)
    store = doc.get("store")
    if store is not None and not isinstance(store, str):
        raise fail("must be a locator string, a path or 'discover'", "store")
    executor_type, settings = _executor(doc.get("executor"), fail)
    try:
        experiment = Experiment(
            name=doc["name"],
            operation=doc["operation"],
            params=source,
            seeds=doc.get("seeds", 1),
            seed_base=doc.get("seed_base", 0),
            description=str(doc.get("description", "")),
            tags=tuple(doc.get("tags", ())),
        )
    except ConfigError as exc:
        raise fail(exc.problem, _guess_key(exc.problem)) from None
    return ExperimentConfig(experiment, store, executor_type, settings, path)


def _guess_key(problem: str) -> str | None:
    for key in ("seeds", "name", "operation"):
        if problem.startswith(key) or f" {key} " in problem or f"{key} name" in problem:
            return key
    return "name" if "experiment name" in problem else None


def _check_keys(doc: Mapping[str, Any], valid: tuple[str, ...], prefix: str, fail: Any) -> None:
    from metalab._sweep.config import closest

    for key in doc:
        if key not in valid:
            hint = closest(str(key), list(valid))
            raise fail(
                "unknown key" + (f" (did you mean {hint!r}?)" if hint else ""), f"{prefix}{key}"
            )


def _params(value: Any, fail: Any) -> ParamSource | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or len(value) != 1:
        raise fail("must be a mapping with exactly one of: grid, random, list", "params")
    ((kind, body),) = value.items()
    try:
        if kind == "grid":
            if not isinstance(body, Mapping) or not body:
                raise fail("must map parameter names to lists of values", "params.grid")
            for name, values in body.items():
                if not isinstance(values, list) or not values:
                    raise fail("must be a non-empty list of values", f"params.grid.{name}")
            return Grid(dict(body))
        if kind == "list":
            if not isinstance(body, list) or not body:
                raise fail("must be a non-empty list of mappings", "params.list")
            for i, item in enumerate(body):
                if not isinstance(item, Mapping):
                    raise fail("must be a mapping of parameter values", f"params.list[{i}]")
            return ParamList(list(body))
        if kind == "random":
            return _random(body, fail)
    except ConfigError as exc:
        if exc.file:
            raise
        raise fail(exc.problem, f"params.{kind}") from None
    raise fail(f"unknown parameter source {kind!r} (expected grid, random or list)", "params")


def _random(body: Any, fail: Any) -> RandomSearch:
    if not isinstance(body, Mapping):
        raise fail("must be a mapping with n, seed and space", "params.random")
    _check_keys(body, RANDOM_KEYS, "params.random.", fail)
    n, seed, space = body.get("n"), body.get("seed", 0), body.get("space")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise fail(f"must be an integer >= 1 (got {n!r})", "params.random.n")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise fail(f"must be an integer (got {seed!r})", "params.random.seed")
    if not isinstance(space, Mapping) or not space:
        raise fail("must map parameter names to distributions", "params.random.space")
    parsed: dict[str, Any] = {}
    for name, dist in space.items():
        key = f"params.random.space.{name}"
        if isinstance(dist, Mapping):
            if len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
                raise fail(
                    f"must be one of {{{', '.join(DISTRIBUTIONS)}: ...}}, a list or a constant", key
                )
            ((dname, args),) = dist.items()
            try:
                if dname == "choice":
                    if not isinstance(args, list) or not args:
                        raise fail("choice needs a non-empty list", key)
                    parsed[name] = Choice(list(args))
                else:
                    if not (
                        isinstance(args, list)
                        and len(args) == 2
                        and all(isinstance(a, int | float) for a in args)
                    ):
                        raise fail(f"{dname} needs [low, high]", key)
                    parsed[name] = _bounded(dname, args[0], args[1])
            except ConfigError as exc:
                if exc.file:
                    raise
                raise fail(exc.problem, key) from None
        else:
            parsed[name] = dist
    return RandomSearch(parsed, n, seed)


def _bounded(kind: str, low: float, high: float) -> Distribution:
    if kind == "uniform":
        return Uniform(float(low), float(high))
    if kind == "loguniform":
        return LogUniform(float(low), float(high))
    if not (isinstance(low, int) and isinstance(high, int)):
        raise ConfigError(f"randint needs integer bounds (got {low!r}, {high!r})")
    return RandInt(low, high)


def _executor(value: Any, fail: Any) -> tuple[str | None, dict[str, Any]]:
    if value is None:
        return None, {}
    if isinstance(value, str):
        value = {"type": value}
    if not isinstance(value, Mapping):
        raise fail("must be a mapping with a 'type' (local, slurm, ...)", "executor")
    settings = dict(value)
    kind = settings.pop("type", None)
    if not isinstance(kind, str):
        raise fail("required key is missing (e.g. local, slurm)", "executor.type")
    from metalab._sweep.config import config_from_dict
    from metalab._sweep.registry import get_executor_type

    try:
        entry = get_executor_type(kind)
        config_from_dict(entry.config_cls, settings, kind)  # validate now: file + key in errors
    except ConfigError as exc:
        key = "executor.type" if exc.key == "executor.type" else f"executor.{exc.key}"
        raise fail(exc.problem, key) from None
    return kind, settings
