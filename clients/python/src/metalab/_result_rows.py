"""Row building for ``Results`` tables and exports (one flat dict per run)."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from metalab.types import RunRecord

if TYPE_CHECKING:
    from metalab.derived import DerivedMetricFn
    from metalab.result import Run

T = TypeVar("T")

PARAM_PREFIX = "param_"
DERIVED_PREFIX = "derived_"


def pandas(feature: str) -> Any:
    """The pandas module, or an ImportError naming ``feature``."""
    try:
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise ImportError(
            f"pandas is required for {feature}. Install it with: pip install metalab[pandas]"
        ) from exc
    return pd


def track(items: list[T], description: str, enabled: bool) -> Iterable[T]:
    """``items``, behind a rich progress bar when ``enabled`` and rich is installed."""
    if not enabled:
        return items
    try:
        from rich.progress import track as rich_track
    except ImportError:
        return items
    return rich_track(items, description=description)


def record_row(record: RunRecord) -> dict[str, Any]:
    """The ``Results.table()`` row of ``record``; metrics keep their own names."""
    return {
        "run_id": record.run_id,
        "experiment_id": record.experiment_id,
        "status": record.status.value,
        "duration_ms": record.duration_ms,
        "started_at": record.started_at.isoformat(),
        "finished_at": record.finished_at.isoformat(),
        "context_fingerprint": record.context_fingerprint,
        "params_fingerprint": record.params_fingerprint,
        "seed_fingerprint": record.seed_fingerprint,
        **record.metrics,
        "tags": ",".join(record.tags),
    }


@dataclass
class RowOptions:
    """What ``Results.to_dataframe`` puts in each row."""

    include_params: bool = True
    include_metrics: bool = True
    include_record: bool = True
    include_derived: bool = False
    derived_metrics: list[DerivedMetricFn] = field(default_factory=list)
    artifact_reducers: dict[str, Callable[..., dict[str, Any]]] = field(default_factory=dict)


def dataframe_row(run: Run, options: RowOptions) -> dict[str, Any]:
    """The ``Results.to_dataframe()`` row of ``run``."""
    row: dict[str, Any] = {}
    if options.include_record:
        row.update(
            run_id=run.run_id,
            experiment_id=run.experiment_id,
            status=run.status.value,
            duration_ms=run.duration_ms,
            started_at=run.started_at.isoformat(),
            finished_at=run.finished_at.isoformat(),
        )
    if options.include_params:
        row.update({f"{PARAM_PREFIX}{k}": v for k, v in run.params.items()})
    if options.include_metrics:
        row.update(run.metrics)
    if options.include_derived:
        row.update({f"{DERIVED_PREFIX}{k}": v for k, v in run.derived.items()})
    for func in options.derived_metrics:
        try:
            row.update(func(run))
        except Exception as exc:  # noqa: BLE001 - a failing column must not lose the table
            _warn("Derived metric", getattr(func, "__name__", str(func)), run, exc)
    for name, reducer in options.artifact_reducers.items():
        try:
            artifact = run.artifact(name)
        except FileNotFoundError:
            continue
        except Exception as exc:  # noqa: BLE001 - an unreadable artifact leaves its columns empty
            _warn("Reducer for", name, run, exc)
            continue
        try:
            row.update(reducer(artifact, run) if _wants_run(reducer) else reducer(artifact))
        except Exception as exc:  # noqa: BLE001 - a failing reducer leaves its columns empty
            _warn("Reducer for", name, run, exc)
    return row


def _wants_run(reducer: Callable[..., Any]) -> bool:
    """True when ``reducer`` has two or more required parameters: (artifact, run)."""
    import inspect

    try:
        parameters = inspect.signature(reducer).parameters.values()
    except (TypeError, ValueError):
        return False
    return sum(p.default is inspect.Parameter.empty for p in parameters) >= 2


def _warn(what: str, name: str, run: Run, exc: Exception) -> None:
    warnings.warn(f"{what} '{name}' failed on run {run.run_id[:8]}: {exc}", stacklevel=4)


def restore_data(entry: dict[str, Any]) -> Any:
    """A stored structured-data entry's value; an array again when it has shape and dtype."""
    data = entry["data"]
    shape, dtype = entry.get("shape"), entry.get("dtype")
    if not (shape and dtype):
        return data
    try:
        import numpy as np
    except ImportError:
        return data
    try:
        return np.array(data, dtype=dtype).reshape(shape)
    except (TypeError, ValueError):
        return data


def csv_path(path: Path, timestamp: bool) -> Path:
    """Where ``Results.to_csv`` writes for ``path`` (see its docstring)."""
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    if path.is_dir() or not path.suffix:
        return path / f"results_{stamp}.csv"
    if timestamp:
        return path.with_stem(f"{path.stem}_{stamp}")
    return path


def summarize(records: list[RunRecord]) -> dict[str, Any]:
    """Run counts by status and duration statistics."""
    by_status: dict[str, int] = {}
    for record in records:
        by_status[record.status.value] = by_status.get(record.status.value, 0) + 1
    durations = [record.duration_ms for record in records]
    return {
        "total_runs": len(records),
        "by_status": by_status,
        "avg_duration_ms": sum(durations) / len(durations) if durations else 0,
        "min_duration_ms": min(durations, default=0),
        "max_duration_ms": max(durations, default=0),
    }
