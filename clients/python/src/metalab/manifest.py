"""Experiment manifests: a JSON record of an experiment's configuration, and back.

``build_experiment_manifest`` describes an experiment as submitted (operation, param
source, seed plan, run ids); ``deserialize_param_source`` and ``deserialize_seed_plan``
rebuild the built-in param sources and seed plans from their manifest dicts, so an
index-addressed worker gets the same cases without enumerating them all.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metalab.experiment import Experiment
    from metalab.operation import OperationWrapper
    from metalab.params.source import ParamSource
    from metalab.seeds.plan import SeedPlan

_SCRIPT_MODULES = ("__main__", "__mp_main__")


def serialize(obj: Any) -> Any:
    """JSON form of a param source, seed plan or similar for the manifest.

    Objects with ``to_manifest_dict()`` describe themselves; anything else is recorded
    as its type name and ``repr``, plus ``total_cases`` when it has a length.
    """
    to_manifest = getattr(obj, "to_manifest_dict", None)
    if callable(to_manifest):
        return to_manifest()
    described: dict[str, Any] = {"type": type(obj).__name__, "repr": repr(obj)}
    if hasattr(obj, "__len__"):
        try:
            described["total_cases"] = len(obj)
        except TypeError:
            pass
    return described


def operation_ref(operation: OperationWrapper) -> str:
    """The operation's reference as its author knows it.

    Operations defined in the script being run have the module ``__main__`` (or
    ``__mp_main__`` in a spawned worker); they are named after the script's file,
    e.g. ``train.py:train``. Other operations keep their ``module:qualname`` ref.
    """
    ref = operation.ref
    module_name, _, qualname = ref.partition(":")
    if module_name not in _SCRIPT_MODULES:
        return ref
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    return f"{Path(path).name}:{qualname}" if path else ref


def build_experiment_manifest(
    experiment: Experiment,
    context_fingerprint: str,
    total_runs: int,
    run_ids: list[str] | None = None,
) -> dict[str, Any]:
    """The manifest of one submission of ``experiment`` (JSON-serializable)."""
    return {
        "experiment_id": experiment.experiment_id,
        "name": experiment.name,
        "version": experiment.version,
        "description": experiment.description,
        "tags": experiment.tags,
        "operation": {
            "ref": operation_ref(experiment.operation),
            "name": experiment.operation.name,
            "code_hash": experiment.operation.code_hash,
        },
        "params": serialize(experiment.params),
        "seeds": serialize(experiment.seeds),
        "context_fingerprint": context_fingerprint,
        "metadata": experiment.metadata,
        "total_runs": total_runs,
        "run_ids": run_ids,
        "submitted_at": datetime.now().isoformat(),
    }


def deserialize_param_source(manifest: dict[str, Any]) -> ParamSource:
    """Rebuild a ``GridSource``, ``ManualSource`` or ``RandomSource`` from its manifest.

    Raises:
        ValueError: for any other ``type``.
    """
    from metalab.params.grid import GridSource
    from metalab.params.manual import ManualSource
    from metalab.params.random import RandomSource

    kind = manifest.get("type")
    if kind == "GridSource":
        return GridSource.from_manifest_dict(manifest)
    if kind == "ManualSource":
        return ManualSource.from_manifest_dict(manifest)
    if kind == "RandomSource":
        return RandomSource.from_manifest_dict(manifest)
    raise ValueError(
        f"Unknown or unsupported ParamSource type: {kind}. "
        "Supported types: GridSource, ManualSource, RandomSource"
    )


def deserialize_seed_plan(manifest: dict[str, Any]) -> SeedPlan:
    """Rebuild a ``SeedPlan`` from its manifest (``{"type": "SeedPlan", ...}``).

    Raises:
        ValueError: if the manifest is not a seed plan's.
    """
    from metalab.seeds.plan import SeedPlan

    kind = manifest.get("type")
    if kind != "SeedPlan":
        raise ValueError(f"Expected SeedPlan manifest, got: {kind}")
    return SeedPlan.from_manifest_dict(manifest)
