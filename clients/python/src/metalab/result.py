"""Results of an experiment: ``Results`` (a collection of runs), ``Run`` and ``ExperimentInfo``.

``Results`` wraps a store and a list of run records; it offers tables (record fields and
metrics as columns: a metric ``x`` is column ``x``; status values are ``"success"``,
``"failed"``, ...), DataFrame and CSV export, filtering, and derived metrics. ``Run`` gives
one run's metrics, params, artifacts, structured data and derived metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

from metalab import _result_rows as rows
from metalab.capture.loading import load_artifact
from metalab.store.capabilities import SupportsStructuredResults
from metalab.types import ArtifactDescriptor, RunRecord, Status

if TYPE_CHECKING:
    from metalab.derived import DerivedMetricFn
    from metalab.store.base import Store

ArtifactReducer = Callable[[Any], dict[str, Any]]
"""Reduces a loaded artifact to columns."""

ContextAwareReducer = Callable[[Any, "Run"], dict[str, Any]]
"""Reduces a loaded artifact to columns, with the run at hand."""


@dataclass
class ExperimentInfo:
    """Experiment-level facts a run can see (from the experiment manifest)."""

    experiment_id: str
    name: str = ""
    version: str = ""
    description: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)

    @classmethod
    def from_manifest(cls, manifest: dict[str, Any]) -> ExperimentInfo:
        """Build from an experiment manifest dict (missing keys become empty)."""
        return cls(
            experiment_id=manifest.get("experiment_id", ""),
            name=manifest.get("name", ""),
            version=manifest.get("version", ""),
            description=manifest.get("description", ""),
            metadata=manifest.get("metadata", {}),
            tags=manifest.get("tags", []),
        )

    @classmethod
    def from_experiment_id(cls, experiment_id: str) -> ExperimentInfo:
        """Minimal info from an id ``"name:version"`` (used when no manifest is stored)."""
        name, _, version = experiment_id.partition(":")
        return cls(experiment_id=experiment_id, name=name, version=version)


class Run:
    """One run: its record's fields, artifacts, structured data and derived metrics.

    Example:
    ```python
    run = results[0]
    run.status, run.metrics, run.params
    run.artifact("summary")             # deserialized
    run.data("transition_matrix")       # numpy array when captured as one
    run.experiment.metadata             # from the experiment manifest
    ```
    """

    def __init__(self, record: RunRecord | Run, store: Store) -> None:
        """
        Args:
            record: The run's record (a ``Run`` is accepted too and unwrapped).
            store: The store holding its artifacts, data and derived metrics.
        """
        self._record: RunRecord = record.record if isinstance(record, Run) else record
        self._store = store
        self._experiment_info: ExperimentInfo | None = None

    @property
    def record(self) -> RunRecord:
        """The underlying run record."""
        return self._record

    @property
    def run_id(self) -> str:
        return self._record.run_id

    @property
    def experiment_id(self) -> str:
        return self._record.experiment_id

    @property
    def status(self) -> Status:
        return self._record.status

    @property
    def metrics(self) -> dict[str, Any]:
        """Scalar metrics captured by the run (a copy)."""
        return dict(self._record.metrics)

    @property
    def params(self) -> dict[str, Any]:
        """The run's resolved parameters (a copy)."""
        return dict(self._record.params_resolved)

    @property
    def tags(self) -> list[str]:
        return list(self._record.tags)

    @property
    def duration_ms(self) -> int:
        return self._record.duration_ms

    @property
    def started_at(self) -> datetime:
        return self._record.started_at

    @property
    def finished_at(self) -> datetime:
        return self._record.finished_at

    @property
    def error(self) -> dict[str, Any] | None:
        """``{"type", "message", "traceback"}`` of a failed run, else None."""
        return self._record.error

    @property
    def context_fingerprint(self) -> str:
        return self._record.context_fingerprint

    @property
    def params_fingerprint(self) -> str:
        return self._record.params_fingerprint

    @property
    def seed_fingerprint(self) -> str:
        return self._record.seed_fingerprint

    @property
    def experiment(self) -> ExperimentInfo:
        """The experiment's info, read once from its stored manifest (or from the id)."""
        if self._experiment_info is None:
            manifest = self._store.get_experiment_manifest(self.experiment_id)
            self._experiment_info = (
                ExperimentInfo.from_manifest(manifest)
                if manifest
                else ExperimentInfo.from_experiment_id(self.experiment_id)
            )
        return self._experiment_info

    def artifacts(self) -> list[ArtifactDescriptor]:
        """Descriptors of the run's stored artifacts."""
        return self._store.list_artifacts(self.run_id)

    def artifact(self, name: str) -> Any:
        """Load artifact ``name`` (json and numpy artifacts deserialized, others as bytes).

        Raises:
            FileNotFoundError: the run has no artifact of that name.
        """
        for descriptor in self.artifacts():
            if descriptor.name == name:
                return load_artifact(self._store, descriptor)
        raise FileNotFoundError(f"Artifact '{name}' not found in run {self.run_id}")

    def data(self, name: str) -> Any:
        """Structured data captured with ``capture.data(name, ...)``.

        Arrays come back as numpy arrays (when numpy is installed) with their shape and dtype.

        Raises:
            NotImplementedError: the store keeps no structured results.
            KeyError: the run has no data of that name.
        """
        if not isinstance(self._store, SupportsStructuredResults):
            raise NotImplementedError(
                f"Store {type(self._store).__name__} does not support structured results."
            )
        entry = self._store.get_result(self.run_id, name)
        if entry is None:
            raise KeyError(f"Result '{name}' not found in run {self.run_id}")
        return rows.restore_data(entry)

    def list_data(self) -> list[str]:
        """Names of the run's structured data ([] when the store keeps none)."""
        if not isinstance(self._store, SupportsStructuredResults):
            return []
        return self._store.list_results(self.run_id)

    @property
    def derived(self) -> dict[str, Any]:
        """Persisted derived metrics (``{}`` when none were computed)."""
        return dict(self._store.get_derived(self.run_id) or {})

    def __repr__(self) -> str:
        return f"Run({self.run_id[:8]}..., status={self.status.value})"


class Results:
    """The runs of an experiment (or a filtered part of them).

    Example:
    ```python
    results = metalab.run(exp).result()
    results[0].metrics
    results.successful.to_dataframe(include_derived=True)
    results.filter(gene="KLF1").to_csv("./out/")
    results.compute_derived([final_loss])
    ```
    """

    def __init__(self, store: Store, records: list[RunRecord]) -> None:
        self._store = store
        self._records = list(records)

    @classmethod
    def from_store(cls, store: Store, experiment_id: str | None = None) -> Results:
        """All runs in ``store`` (of ``experiment_id`` when given)."""
        return cls(store=store, records=store.list_run_records(experiment_id=experiment_id))

    @property
    def store(self) -> Store:
        return self._store

    @property
    def records(self) -> list[RunRecord]:
        """The run records (a copy of the list)."""
        return list(self._records)

    @property
    def runs(self) -> list[Run]:
        return [Run(record, self._store) for record in self._records]

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[Run]:
        for record in self._records:
            yield Run(record, self._store)

    @overload
    def __getitem__(self, index: int) -> Run: ...
    @overload
    def __getitem__(self, index: slice) -> Results: ...
    def __getitem__(self, index: int | slice) -> Run | Results:
        """A run by position, or the Results of a slice."""
        if isinstance(index, slice):
            return Results(store=self._store, records=self._records[index])
        return Run(self._records[index], self._store)

    # ------------------------------------------------------------- selection

    def filter(
        self,
        status: str | Status | None = None,
        tags: list[str] | None = None,
        **params: Any,
    ) -> Results:
        """Runs with this status, all these tags, and these metric values.

        Example: ``results.filter(status="success").filter(gene="KLF1")``.

        Raises:
            ValueError: ``status`` is not a status value.
        """
        selected = self._records
        if status is not None:
            wanted = Status(status)
            selected = [r for r in selected if r.status == wanted]
        if tags is not None:
            required = set(tags)
            selected = [r for r in selected if required.issubset(r.tags)]
        for key, value in params.items():
            selected = [r for r in selected if r.metrics.get(key) == value]
        return Results(store=self._store, records=selected)

    @property
    def successful(self) -> Results:
        return self.filter(status=Status.SUCCESS)

    @property
    def failed(self) -> Results:
        return self.filter(status=Status.FAILED)

    # --------------------------------------------------------------- tables

    def table(self, as_dataframe: bool = False) -> list[dict[str, Any]] | Any:
        """One row per run: record fields, fingerprints, metrics (by their own names) and
        ``tags`` joined by commas. A pandas DataFrame with ``as_dataframe=True``.

        Raises:
            ImportError: ``as_dataframe=True`` without pandas.
        """
        table = [rows.record_row(record) for record in self._records]
        if not as_dataframe:
            return table
        return rows.pandas("as_dataframe=True").DataFrame(table)

    def to_dataframe(
        self,
        *,
        include_params: bool = True,
        include_metrics: bool = True,
        include_record: bool = True,
        include_derived: bool = False,
        derived_metrics: list[DerivedMetricFn] | None = None,
        artifact_reducers: dict[str, ArtifactReducer | ContextAwareReducer] | None = None,
        progress: bool = False,
    ) -> Any:
        """A pandas DataFrame of the runs.

        Columns: record fields (``run_id``, ``experiment_id``, ``status``, ``duration_ms``,
        ``started_at``, ``finished_at``), params as ``param_<name>``, metrics by name,
        persisted derived metrics as ``derived_<name>``, then the columns returned by
        ``derived_metrics`` functions (computed now, not stored) and by
        ``artifact_reducers`` (artifact name -> function of the loaded artifact, and of the
        run when it takes two arguments; runs without the artifact get no value).

        Args:
            progress: Show a progress bar while loading runs (needs rich).

        Raises:
            ImportError: pandas is not installed.
        """
        pd = rows.pandas("to_dataframe()")
        options = rows.RowOptions(
            include_params=include_params,
            include_metrics=include_metrics,
            include_record=include_record,
            include_derived=include_derived,
            derived_metrics=derived_metrics or [],
            artifact_reducers=artifact_reducers or {},
        )
        runs = rows.track(self.runs, "Loading runs...", progress)
        return pd.DataFrame([rows.dataframe_row(run, options) for run in runs])

    def to_csv(
        self,
        path: str | Path,
        *,
        include_fingerprints: bool = False,
        timestamp: bool = False,
    ) -> Path:
        """Write :meth:`table` as CSV and return the file's path.

        A directory (or a path without suffix) gets ``results_<YYYYmmdd_HHMMSS>.csv``;
        ``timestamp=True`` appends ``_<timestamp>`` to a file name. Fingerprint columns are
        left out unless ``include_fingerprints``.

        Raises:
            ImportError: pandas is not installed.
        """
        pd = rows.pandas("to_csv()")
        target = rows.csv_path(Path(path), timestamp)
        target.parent.mkdir(parents=True, exist_ok=True)
        frame = pd.DataFrame(self.table())
        if not include_fingerprints:
            frame = frame.drop(
                columns=[c for c in frame.columns if str(c).endswith("_fingerprint")]
            )
        frame.to_csv(target, index=False)
        return target

    # ------------------------------------------------------- derived metrics

    def compute_derived(
        self,
        metrics: list[DerivedMetricFn],
        *,
        overwrite: bool = False,
        progress: bool = False,
    ) -> None:
        """Compute derived metrics for every run and store them (``derived/{run_id}.json``).

        Runs that already have derived metrics are skipped unless ``overwrite``.
        """
        from metalab.derived import compute_derived_for_run

        for run in rows.track(self.runs, "Computing derived metrics...", progress):
            if not overwrite and self._store.derived_exists(run.run_id):
                continue
            self._store.put_derived(run.run_id, compute_derived_for_run(run, metrics))

    def load(self, run_id: str, artifact_name: str) -> Any:
        """Artifact ``artifact_name`` of run ``run_id`` (prefer ``run.artifact(name)``).

        Raises:
            FileNotFoundError: no such run in these results, or no such artifact.
        """
        for record in self._records:
            if record.run_id == run_id:
                return Run(record, self._store).artifact(artifact_name)
        raise FileNotFoundError(f"Run '{run_id}' not found in results")

    # -------------------------------------------------------------- summary

    def summary(self) -> dict[str, Any]:
        """``total_runs``, ``by_status`` counts and avg/min/max ``duration_ms``."""
        return rows.summarize(self._records)

    def display(self, *, group_by: list[str] | None = None, show_summary: bool = True) -> None:
        """Print a summary (rich on a terminal, plain text otherwise), optionally with
        success/failure counts grouped by metric values."""
        from metalab._result_display import show_results

        show_results(self._records, self.summary(), group_by=group_by, show_summary=show_summary)

    def __repr__(self) -> str:
        summary = self.summary()
        counts = ", ".join(f"{k}={v}" for k, v in summary["by_status"].items())
        return f"Results({summary['total_runs']} runs: {counts})"
