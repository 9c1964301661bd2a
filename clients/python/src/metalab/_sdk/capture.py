"""`Capture`: what an operation uses to record metrics and artifacts."""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from metalab._runstore.base import MetricStep, Store, now_iso
from metalab.errors import StoreError

FLUSH_EVERY_STEPS = 500
FLUSH_EVERY_SECONDS = 5.0


def json_safe(value: Any) -> Any:
    """Non-finite floats become "NaN"/"Infinity"/"-Infinity" so every reader can parse them."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


class Capture:
    """Passed to every operation as its third argument.

    ``metric(name, value)`` records a summary value; ``log_metric(name, value, step=...)`` a
    step-wise one (its last value is also the summary); ``artifact(name, obj)`` saves a file
    under the run's ``artifacts/`` directory; ``no_archive()`` keeps the run out of the
    workspace's archive folders.
    """

    def __init__(
        self, store: Store, experiment_id: str, run_id: str, params: dict[str, Any], seed: int
    ) -> None:
        self._store = store
        self.experiment_id = experiment_id
        self.run_id = run_id
        self.params = params
        self.seed = seed
        self.summary: dict[str, Any] = {}
        self._steps: list[MetricStep] = []
        self._next_step: dict[str, int] = {}
        self._last_flush = time.monotonic()

    @property
    def run_dir(self) -> Path:
        return self._store.run_dir(self.experiment_id, self.run_id)

    @property
    def artifact_dir(self) -> Path:
        path = self.run_dir / "artifacts"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def metric(self, name: str, value: Any) -> None:
        """Record a summary metric (a JSON value; numbers are what dashboards plot)."""
        self.summary[_name(name)] = json_safe(_jsonable(name, value))

    def metrics(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            self.metric(name, value)

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Record ``value`` of ``name`` at ``step`` (default: one more than the last step)."""
        name = _name(name)
        if step is None:
            step = self._next_step.get(name, 0)
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"step of metric {name!r} must be an int (got {step!r})")
        number = float(value)
        self._next_step[name] = step + 1
        self._steps.append(MetricStep(name, step, number, now_iso()))
        self.summary[name] = json_safe(number)
        if (
            len(self._steps) >= FLUSH_EVERY_STEPS
            or time.monotonic() - self._last_flush > FLUSH_EVERY_SECONDS
        ):
            self.flush()

    def artifact(self, name: str, obj: Any) -> Path:
        """Save ``obj`` as ``artifacts/{name}``: bytes and str as is, a Path copied, else JSON."""
        relative = PurePosixPath(name)
        if not name or relative.is_absolute() or ".." in relative.parts:
            raise ValueError(f"artifact name {name!r} must be a relative path without '..'")
        path = self.artifact_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(obj, bytes):
            path.write_bytes(obj)
        elif isinstance(obj, str):
            path.write_text(obj)
        elif isinstance(obj, Path):
            shutil.copyfile(obj, path)
        else:
            try:
                text = json.dumps(json_safe(obj), indent=1, sort_keys=True)
            except TypeError as exc:
                raise TypeError(
                    f"artifact {name!r}: pass bytes, str, a Path, or a JSON value ({exc})"
                ) from None
            path.write_text(text + "\n")
        return path

    def no_archive(self) -> None:
        """Keep this run out of the workspace's ``backup``/``move`` folders (the per-run opt-out).

        Writes the ``.metalab-no-archive`` marker into the run directory.
        """
        from metalab._folders import NO_ARCHIVE_MARKER

        directory = self.run_dir
        directory.mkdir(parents=True, exist_ok=True)
        (directory / NO_ARCHIVE_MARKER).touch()

    def flush(self) -> None:
        if self._steps:
            batch, self._steps = self._steps, []
            try:
                self._store.write_steps(self.experiment_id, self.run_id, batch)
            except StoreError:
                self._steps = batch + self._steps
                raise
        self._last_flush = time.monotonic()


def _name(name: str) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"metric name must be a non-empty string (got {name!r})")
    return name


def _jsonable(name: str, value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        if hasattr(value, "item"):  # numpy / torch scalars
            return value.item()
        raise TypeError(
            f"metric {name!r} must be a JSON value (got {type(value).__name__})"
        ) from None
    return value
