"""`RunPayload`: one run's inputs as plain data a worker can receive."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

from metalab.seeds.bundle import SeedBundle


@dataclass
class RunPayload:
    """Everything a worker needs for one run; the operation travels as a reference.

    Attributes:
        run_id: The run's deterministic id.
        experiment_id: ``"name:version"``.
        context_spec: The experiment's context specification.
        params_resolved: The params the operation receives.
        seed_bundle: The run's seeds.
        store_locator: The store's config as a dict (``StoreConfig.to_dict()``).
        fingerprints: ``context``, ``params`` and ``seed`` fingerprints.
        metadata: Experiment metadata (handed to the runtime, never fingerprinted).
        operation_ref: ``"module:qualname"`` of the operation.
        derived_metric_refs: ``"module:func"`` references of derived metrics to compute
            after the run (they do not change the run's identity).
    """

    run_id: str
    experiment_id: str
    context_spec: Any
    params_resolved: dict[str, Any]
    seed_bundle: SeedBundle
    store_locator: dict[str, Any]
    fingerprints: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    operation_ref: str = ""
    derived_metric_refs: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Plain-data form (``derived_metric_refs`` only when set)."""
        data: dict[str, Any] = {
            "run_id": self.run_id,
            "experiment_id": self.experiment_id,
            "context_spec": self.context_spec,
            "params_resolved": self.params_resolved,
            "seed_bundle": self.seed_bundle.to_dict(),
            "store_locator": self.store_locator,
            "fingerprints": self.fingerprints,
            "metadata": self.metadata,
            "operation_ref": self.operation_ref,
        }
        if self.derived_metric_refs is not None:
            data["derived_metric_refs"] = self.derived_metric_refs
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunPayload:
        """Inverse of :meth:`to_dict`; accepts the older ``runtime_hints`` key for metadata."""
        return cls(
            run_id=data["run_id"],
            experiment_id=data["experiment_id"],
            context_spec=data["context_spec"],
            params_resolved=data["params_resolved"],
            seed_bundle=SeedBundle.from_dict(data["seed_bundle"]),
            store_locator=data["store_locator"],
            fingerprints=data.get("fingerprints", {}),
            metadata=data.get("metadata", data.get("runtime_hints", {})),
            operation_ref=data.get("operation_ref", ""),
            derived_metric_refs=data.get("derived_metric_refs"),
        )


def import_ref(ref: str) -> Any:
    """The object named by ``"module:attr"`` (dotted attributes allowed); ``None`` for ``""``."""
    if not ref:
        return None
    module_name, _, path = ref.rpartition(":")
    obj: Any = importlib.import_module(module_name)
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj
