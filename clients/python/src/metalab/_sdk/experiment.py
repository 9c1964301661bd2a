"""`Experiment`: a name, an importable operation, a parameter source and seeds.

Run identity is ``sha256(canonical JSON of {experiment, params, seed})``: stable across
processes, machines and Python versions, so re-running an experiment finds its finished runs.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metalab._sdk.params import Params, ParamSource, as_source
from metalab.errors import ConfigError

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
RUN_ID_LENGTH = 20

Operation = Callable[..., Any]


@dataclass(frozen=True)
class RunSpec:
    """One run to execute: what the executor ships (as JSON) to wherever the run happens."""

    run_id: str
    params: Params
    seed: int

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "params": self.params, "seed": self.seed}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunSpec:
        return cls(str(data["run_id"]), dict(data["params"]), int(data["seed"]))


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace; raises `ConfigError` for non-JSON values."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"parameters must be JSON values: {exc}") from None


def run_id_for(experiment_id: str, params: Mapping[str, Any], seed: int) -> str:
    """The stable identity of one run of ``experiment_id``."""
    payload = canonical_json({"experiment": experiment_id, "params": dict(params), "seed": seed})
    return hashlib.sha256(payload.encode()).hexdigest()[:RUN_ID_LENGTH]


def derive_seeds(count: int, base: int = 0) -> list[int]:
    """``count`` well-spread 31-bit seeds derived from ``base``: the same on every machine."""
    out = []
    for i in range(count):
        digest = hashlib.sha256(f"metalab-seed:{base}:{i}".encode()).digest()
        out.append(int.from_bytes(digest[:4], "big") & 0x7FFFFFFF)
    return out


def operation_ref(operation: Operation | str) -> str:
    """``module:function`` for an importable function (scripts become ``path/to/file.py:fn``)."""
    if isinstance(operation, str):
        if ":" not in operation:
            raise ConfigError(f"operation must look like 'module:function' (got {operation!r})")
        return operation
    qualname = getattr(operation, "__qualname__", "")
    module = getattr(operation, "__module__", None)
    if not module or not qualname or "<" in qualname:
        raise ConfigError(
            f"operation {operation!r} must be a module-level function (not a lambda or a "
            "nested function) so that workers can import it"
        )
    if module == "__main__":
        main = sys.modules.get("__main__")
        spec = getattr(main, "__spec__", None)
        if spec is not None and spec.name:
            module = spec.name
        elif getattr(main, "__file__", None):
            return f"{Path(main.__file__).resolve()}:{qualname}"  # type: ignore[union-attr, arg-type]
        else:
            raise ConfigError("operations defined interactively cannot be imported by workers")
    return f"{module}:{qualname}"


def load_operation(ref: str) -> Operation:
    """Import ``module:function`` (or ``/path/file.py:function``) and return the function."""
    module_name, _, attr = ref.partition(":")
    if not module_name or not attr:
        raise ConfigError(f"operation must look like 'module:function' (got {ref!r})")
    try:
        if module_name.endswith(".py"):
            spec = importlib.util.spec_from_file_location("__metalab_main__", module_name)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {module_name}")
            module = sys.modules.get("__metalab_main__") or importlib.util.module_from_spec(spec)
            if "__metalab_main__" not in sys.modules:
                sys.modules["__metalab_main__"] = module
                spec.loader.exec_module(module)
        else:
            module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"cannot import operation {ref!r}: {exc}") from exc
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise ConfigError(f"operation {ref!r}: {module_name} has no attribute {attr!r}")
    if not callable(target):
        raise ConfigError(f"operation {ref!r} is not callable")
    return target  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Experiment:
    """A named sweep: ``operation(params, seed, capture)`` for every point and seed.

    ``seeds`` is a count (seeds are derived from ``seed_base``) or an explicit list of ints.
    """

    name: str
    operation: Operation | str
    params: ParamSource | Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None
    seeds: int | Sequence[int] = 1
    seed_base: int = 0
    description: str = ""
    tags: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME_RE.match(self.name):
            raise ConfigError(
                f"experiment name {self.name!r} must be 1-128 characters of letters, digits, "
                "'.', '_' or '-' (starting with a letter or digit)"
            )
        self.seed_values()  # validate early
        operation_ref(self.operation)

    @property
    def experiment_id(self) -> str:
        return self.name

    @property
    def source(self) -> ParamSource:
        return as_source(self.params)

    @property
    def operation_path(self) -> str:
        return operation_ref(self.operation)

    def seed_values(self) -> list[int]:
        seeds = self.seeds
        if isinstance(seeds, bool):
            raise ConfigError(f"seeds must be a count or a list of ints (got {seeds!r})")
        if isinstance(seeds, int):
            if seeds < 1:
                raise ConfigError(f"seeds must be >= 1 (got {seeds})")
            return derive_seeds(seeds, self.seed_base)
        values = list(seeds)
        if not values or not all(isinstance(s, int) and not isinstance(s, bool) for s in values):
            raise ConfigError(f"seeds must be a count or a non-empty list of ints (got {seeds!r})")
        return values

    def runs(self) -> list[RunSpec]:
        """Every (params, seed) pair, in a stable order, duplicates removed."""
        seen: set[str] = set()
        out: list[RunSpec] = []
        seeds = self.seed_values()
        for point in self.source.points():
            for seed in seeds:
                rid = run_id_for(self.experiment_id, point, seed)
                if rid not in seen:
                    seen.add(rid)
                    out.append(RunSpec(rid, dict(point), seed))
        return out

    def spec(self) -> dict[str, Any]:
        """The experiment as JSON (stored as ``experiment.json``)."""
        return {
            "experiment_id": self.experiment_id,
            "name": self.name,
            "operation": self.operation_path,
            "params": self.source.spec(),
            "seeds": self.seeds if isinstance(self.seeds, int) else list(self.seeds),
            "seed_base": self.seed_base,
            "description": self.description,
            "tags": list(self.tags),
        }
