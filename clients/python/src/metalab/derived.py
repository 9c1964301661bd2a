"""Derived metrics: scalars computed from a finished run, stored apart from its record.

A derived metric function takes a :class:`metalab.result.Run` and returns
``dict[str, Metric]``. Results are persisted with ``Store.put_derived`` (FileStore:
``derived/{run_id}.json``) and never enter a fingerprint. Workers receive the functions as
``"module:qualname"`` references, so they must be importable (no lambdas, no local functions).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, cast

from metalab.types import Metric

if TYPE_CHECKING:
    from metalab.result import Run
    from metalab.store.base import Store

logger = logging.getLogger(__name__)

DerivedMetricFn = Callable[["Run"], dict[str, Metric]]
"""A function from a Run to a dict of metric values."""


def import_derived_metric(ref: str) -> DerivedMetricFn:
    """The function named by ``ref`` (``"package.module:name"``; ``name`` may be dotted).

    Raises:
        ValueError: ``ref`` is empty or has no ``":"``.
        ImportError: the module cannot be imported.
        AttributeError: the module has no such attribute.
        TypeError: the attribute is not callable.
    """
    if not ref:
        raise ValueError("Empty reference string")
    if ":" not in ref:
        raise ValueError(f"Invalid reference format: {ref}. Expected 'module:func'")
    module_name, attr_path = ref.rsplit(":", 1)
    obj: object = importlib.import_module(module_name)
    for part in attr_path.split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        raise TypeError(f"Derived metric reference {ref!r} is not callable")
    return cast(DerivedMetricFn, obj)


def get_func_ref(func: DerivedMetricFn) -> str:
    """The ``"module:qualname"`` reference that :func:`import_derived_metric` resolves.

    Raises:
        ValueError: ``func`` has no module or name, or is a lambda or local function.
    """
    module = getattr(func, "__module__", None)
    name = getattr(func, "__qualname__", None) or getattr(func, "__name__", None)
    if not module or not name:
        raise ValueError(
            f"Cannot get reference for {func}. "
            "Derived metric functions must be importable (not lambdas)."
        )
    if "<lambda>" in name or "<locals>" in name:
        raise ValueError(
            f"Cannot get reference for {func}. Derived metric functions must be "
            "importable (not lambdas or local functions)."
        )
    return f"{module}:{name}"


def compute_derived_for_run(run: Run, metrics: list[DerivedMetricFn]) -> dict[str, Metric]:
    """Apply each function to ``run`` and merge their dicts (later keys win).

    A function that raises is logged as a warning and skipped.
    """
    derived: dict[str, Metric] = {}
    for func in metrics:
        try:
            values = func(run)
        except Exception as exc:  # noqa: BLE001 - one broken metric must not lose the others
            name = getattr(func, "__name__", str(func))
            logger.warning(
                "Derived metric function '%s' failed for run %s: %s", name, run.run_id[:8], exc
            )
            continue
        if values:
            derived.update(values)
    return derived


def compute_and_store_derived(
    run_id: str, store: Store, metric_refs: list[str]
) -> dict[str, Metric]:
    """Import ``metric_refs``, apply them to the stored run ``run_id`` and persist the result.

    References that fail to import are logged and skipped; the (possibly empty) result is
    stored. Returns ``{}`` without storing anything when the run does not exist.
    """
    from metalab.result import Run

    record = store.get_run_record(run_id)
    if record is None:
        logger.warning("Cannot compute derived metrics: run %s not found", run_id)
        return {}
    derived = compute_derived_for_run(Run(record, store), import_all(metric_refs))
    store.put_derived(run_id, derived)
    return derived


def import_all(refs: list[str]) -> list[DerivedMetricFn]:
    """The importable functions among ``refs``; failures are logged and skipped."""
    functions: list[DerivedMetricFn] = []
    for ref in refs:
        try:
            functions.append(import_derived_metric(ref))
        except Exception as exc:  # noqa: BLE001 - a stale reference must not stop the others
            logger.warning("Failed to import derived metric '%s': %s", ref, exc)
    return functions
