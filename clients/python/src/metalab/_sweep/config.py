"""Executor configuration: typed, validated config classes and `executor_from_config`.

Unknown fields fail loudly, naming the field and the closest valid one.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from metalab.errors import ConfigError

T = TypeVar("T")

TIME_RE = re.compile(r"^(\d+-)?\d{1,3}(:\d{1,2}){0,2}$|^UNLIMITED$|^\d+-\d{1,2}$")
MEMORY_RE = re.compile(r"^\d+(\.\d+)?[KMGTkmgt]?[Bb]?$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.,+-]+$")


@dataclass(frozen=True)
class LocalExecutorConfig:
    """``workers`` processes; ``workers: 1`` runs in-process (``executor_from_config`` → None)."""

    workers: int = 1

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ConfigError(f"must be >= 1 (got {self.workers})", key="workers")


@dataclass(frozen=True)
class SlurmExecutorConfig:
    """One job array per sweep (chunked to MaxArraySize); the seed's fields plus a few extras."""

    partition: str = "default"
    time: str = "1:00:00"
    cpus: int = 1
    memory: str = "4G"
    gpus: int = 0
    max_concurrent: int | None = None
    modules: list[str] = field(default_factory=list)
    conda_env: str | None = None
    setup: list[str] = field(default_factory=list)
    # extras beyond the seed's table
    python: str | None = None  # interpreter on the nodes; default: sys.executable
    account: str | None = None
    qos: str | None = None
    sbatch_args: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        _match("partition", self.partition, NAME_RE)
        _match("time", self.time, TIME_RE)
        _match("memory", self.memory, MEMORY_RE)
        for key in ("account", "qos"):
            value = getattr(self, key)
            if value is not None:
                _match(key, value, NAME_RE)
        if self.cpus < 1:
            raise ConfigError(f"must be >= 1 (got {self.cpus})", key="cpus")
        if self.gpus < 0:
            raise ConfigError(f"must be >= 0 (got {self.gpus})", key="gpus")
        if self.max_concurrent is not None and self.max_concurrent < 1:
            raise ConfigError(f"must be >= 1 (got {self.max_concurrent})", key="max_concurrent")
        for key in ("modules", "setup", "sbatch_args"):
            for i, item in enumerate(getattr(self, key)):
                if "\n" in item or "\r" in item:
                    raise ConfigError("must not contain a newline", key=f"{key}[{i}]")
        for i, arg in enumerate(self.sbatch_args):
            if not arg.startswith("--"):
                raise ConfigError(
                    f"must be a long option like --foo=bar (got {arg!r})", key=f"sbatch_args[{i}]"
                )
        for key in ("conda_env", "python"):
            value = getattr(self, key)
            if value is not None and ("\n" in value or not value):
                raise ConfigError("must be a non-empty single line", key=key)


def _match(key: str, value: str, pattern: re.Pattern[str]) -> None:
    if not pattern.match(value):
        raise ConfigError(f"invalid value {value!r}", key=key)


def closest(name: str, valid: list[str]) -> str | None:
    found = difflib.get_close_matches(name, valid, n=1, cutoff=0.5)
    return found[0] if found else None


def config_from_dict(cls: type[T], data: Mapping[str, Any], what: str) -> T:
    """Build the dataclass ``cls`` from ``data``: unknown keys and wrong types are errors."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} settings must be a mapping (got {type(data).__name__})")
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    for key in data:
        if key not in fields:
            hint = closest(str(key), list(fields))
            suggestion = f" (did you mean {hint!r}?)" if hint else ""
            raise ConfigError(
                f"unknown field {key!r} for the {what} executor{suggestion}; valid fields: "
                f"{', '.join(fields)}",
                key=str(key),
            )
        _check_type(str(key), data[key], hints[key])
    try:
        return cls(**dict(data))
    except ConfigError as exc:
        raise ConfigError(f"{what} executor: {exc.problem}", key=exc.key) from None


def _check_type(key: str, value: Any, hint: Any) -> None:
    options = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for option in options:
        if option is type(None) and value is None:
            return
        origin = typing.get_origin(option)
        if origin is list and isinstance(value, list):
            (item_type,) = typing.get_args(option)
            if all(_is(v, item_type) for v in value):
                return
        elif origin is None and option is not type(None) and _is(value, option):
            return
    expected = " or ".join(_type_name(o) for o in options)
    raise ConfigError(f"expected {expected} (got {value!r})", key=key)


def _is(value: Any, typ: Any) -> bool:
    if typ is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if typ is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, typ)


def _type_name(option: Any) -> str:
    if option is type(None):
        return "null"
    if typing.get_origin(option) is list:
        return f"a list of {typing.get_args(option)[0].__name__}"
    return str(option.__name__)


def executor_from_config(executor_type: str, settings: Mapping[str, Any] | None = None) -> Any:
    """Create an executor of a registered type from a settings dict.

    ``("local", {"workers": 4})`` → a process pool; ``("local", {"workers": 1})`` → None
    (metalab runs in-process); ``("slurm", {...})`` → `SlurmExecutor`.
    """
    from metalab._sweep.registry import get_executor_type

    entry = get_executor_type(executor_type)
    config = config_from_dict(entry.config_cls, settings or {}, executor_type)
    return entry.factory(config)
