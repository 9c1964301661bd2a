"""`metalab.run` and friends: submit an experiment, reload its results, reattach to it.

``run`` works out every run's deterministic id (experiment, context, params, seeds and
operation code), records the experiment's manifest, skips runs the store already holds
as successful (``resume``), and submits the rest to an executor. It returns a handle
at once; ``handle.result()`` waits for the runs.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from metalab.executor._worker import refuse_in_worker
from metalab.executor.handle import HandleWrapper

if TYPE_CHECKING:
    from metalab.derived import DerivedMetricFn
    from metalab.events import Event, EventCallback
    from metalab.executor.base import Executor
    from metalab.executor.handle import RunHandle
    from metalab.executor.payload import RunPayload
    from metalab.experiment import Experiment
    from metalab.progress import Progress, ProgressTracker
    from metalab.result import Results
    from metalab.seeds.bundle import SeedBundle
    from metalab.store.base import Store
    from metalab.store.config import StoreConfig
    from metalab.workspace.settings import Workspace

logger = logging.getLogger(__name__)
_package_logger = logging.getLogger("metalab")

_LOCAL_EXECUTOR_TYPES = {"local", "thread", "process"}


def _ensure_verbose_logging() -> None:
    """Show ``metalab`` INFO logs on stderr unless logging is already configured for it."""
    parent = _package_logger.parent
    if _package_logger.handlers or (parent is not None and parent.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    _package_logger.addHandler(handler)
    _package_logger.setLevel(logging.INFO)


class ProgressRunHandle(HandleWrapper):
    """A handle that shows a progress display until its runs are gathered.

    The tracker starts with the handle and receives the inner handle's events; it
    stops when :meth:`result` returns or raises, on :meth:`cancel`, or on leaving a
    ``with`` block. Ctrl-C during :meth:`result` cancels the remaining runs.
    """

    def __init__(self, handle: RunHandle, tracker: ProgressTracker) -> None:
        self._handle = handle
        self._tracker = tracker
        self._started = False
        self._stopped = False
        self._tracker.__enter__()
        self._handle.set_event_callback(self._tracker)
        self._started = True

    def _stop_tracker(
        self,
        exc_info: tuple[type | None, BaseException | None, object] = (None, None, None),
    ) -> None:
        if self._started and not self._stopped:
            self._stopped = True
            self._tracker.__exit__(*exc_info)

    def result(self, timeout: float | None = None) -> Results:
        """Wait for the runs, then close the progress display."""
        try:
            return self._handle.result(timeout=timeout)
        except KeyboardInterrupt as interrupt:
            self._handle.cancel()
            self._stop_tracker((KeyboardInterrupt, interrupt, None))
            raise
        finally:
            self._stop_tracker()

    def cancel(self) -> None:
        """Cancel the runs and close the progress display."""
        self._handle.cancel()
        self._stop_tracker()

    def set_event_callback(self, callback: EventCallback | None) -> None:
        """Send events to ``callback`` as well, after the progress tracker."""
        tracker = self._tracker

        def both(event: Event) -> None:
            tracker(event)
            if callback is not None:
                callback(event)

        self._handle.set_event_callback(both)

    def __enter__(self) -> ProgressRunHandle:
        return self

    def __exit__(self, exc_type: object, exc_val: object, exc_tb: object) -> None:
        self._stop_tracker()


def _resolve_params(experiment: Experiment, params: dict[str, Any]) -> dict[str, Any]:
    resolver: Any = experiment.param_resolver
    if resolver is None:
        return params
    if hasattr(resolver, "resolve"):
        return dict(resolver.resolve({}, params))
    return dict(resolver({}, params))


def _plan_runs(
    experiment: Experiment, context_fp: str
) -> list[tuple[str, dict[str, Any], SeedBundle, str, str]]:
    """``(run_id, params, seeds, params_fp, seed_fp)`` of every run, params-major."""
    from metalab._ids import compute_run_id, fingerprint_params, fingerprint_seeds

    planned = []
    code_fp = experiment.operation.code_hash
    for case in experiment.params:
        params = _resolve_params(experiment, case.params)
        params_fp = fingerprint_params(params)
        for bundle in experiment.seeds:
            seed_fp = fingerprint_seeds(bundle)
            run_id = compute_run_id(
                experiment_id=experiment.experiment_id,
                context_fp=context_fp,
                params_fp=params_fp,
                seed_fp=seed_fp,
                code_fp=code_fp,
            )
            planned.append((run_id, params, bundle, params_fp, seed_fp))
    return planned


def _context_fingerprint(experiment: Experiment, store: Store, persist: bool) -> str:
    """Fingerprint the resolved context; save what file hashes resolved to, if any."""
    from metalab._canonical import fingerprint
    from metalab._ids import resolve_context
    from metalab.store import SupportsWorkingDirectory

    resolved, resolved_fields = resolve_context(experiment.context)
    context_fp = fingerprint(resolved)
    if persist and resolved_fields and isinstance(store, SupportsWorkingDirectory):
        path = store.get_working_directory() / f"{experiment.experiment_id}_context_manifest.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "experiment_id": experiment.experiment_id,
            "context_fingerprint": context_fp,
            "resolved_fields": resolved_fields,
        }
        path.write_text(json.dumps(document, indent=2))
        logger.debug(f"Saved context manifest to {path}")
    return context_fp


def _write_experiment_manifest(
    experiment: Experiment,
    store: Store,
    context_fingerprint: str,
    total_runs: int,
    run_ids: list[str] | None = None,
) -> None:
    """Save the experiment's manifest, timestamped, if the store keeps manifests."""
    from metalab.manifest import build_experiment_manifest
    from metalab.store import SupportsExperimentManifests

    if not isinstance(store, SupportsExperimentManifests):
        return
    manifest = build_experiment_manifest(
        experiment=experiment,
        context_fingerprint=context_fingerprint,
        total_runs=total_runs,
        run_ids=run_ids,
    )
    timestamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    store.put_experiment_manifest(experiment.experiment_id, manifest, timestamp=timestamp)
    logger.debug(f"Saved experiment manifest: {experiment.experiment_id}")


def _total_runs(experiment: Experiment) -> int:
    """Param cases times replicates, without enumerating them."""
    params: Any = experiment.params
    seed_plan: Any = experiment.seeds
    return len(params) * len(seed_plan)


def _store_locator(store: Store) -> dict[str, Any]:
    """The store's config as plain data, for workers to reconnect with."""
    connected: Any = store
    locator: dict[str, Any] = connected.config.to_dict()
    return locator


def _already_succeeded(store: Store, run_id: str) -> bool:
    from metalab.types import Status

    if not store.run_exists(run_id):
        return False
    existing = store.get_run_record(run_id)
    return existing is not None and existing.status == Status.SUCCESS


def generate_payloads(
    experiment: Experiment,
    store: Store,
    resume: bool = True,
    persist_manifest: bool = True,
    derived_metric_refs: list[str] | None = None,
) -> tuple[list[RunPayload], list[str]]:
    """The payloads to execute and the ids of every run (skipped ones included).

    With ``resume``, runs the store holds as successful get no payload.
    ``persist_manifest`` saves the experiment manifest (and resolved context files).
    """
    from metalab.executor.payload import RunPayload

    context_fp = _context_fingerprint(experiment, store, persist_manifest)
    planned = _plan_runs(experiment, context_fp)
    run_ids = [run_id for run_id, *_ in planned]
    if persist_manifest:
        _write_experiment_manifest(experiment, store, context_fp, len(run_ids), run_ids)
    locator = _store_locator(store)
    payloads = [
        RunPayload(
            run_id=run_id,
            experiment_id=experiment.experiment_id,
            context_spec=experiment.context,
            params_resolved=params,
            seed_bundle=bundle,
            store_locator=locator,
            fingerprints={"context": context_fp, "params": params_fp, "seed": seed_fp},
            metadata=experiment.metadata,
            operation_ref=experiment.operation.ref,
            derived_metric_refs=derived_metric_refs,
        )
        for run_id, params, bundle, params_fp, seed_fp in planned
        if not (resume and _already_succeeded(store, run_id))
    ]
    return payloads, run_ids


def _run_indexed(
    experiment: Experiment,
    store: Store,
    executor: Any,
    resume: bool,
    derived_metric_refs: list[str] | None,
) -> RunHandle:
    """Submit to an executor that addresses runs by index (``submit_indexed``)."""
    context_fp = _context_fingerprint(experiment, store, persist=True)
    total_runs = _total_runs(experiment)
    skipped = 0
    if resume:
        planned = _plan_runs(experiment, context_fp)
        skipped = sum(_already_succeeded(store, run_id) for run_id, *_ in planned)
    _write_experiment_manifest(experiment, store, context_fp, total_runs)
    handle: RunHandle = executor.submit_indexed(
        experiment=experiment,
        store=store,
        context_fingerprint=context_fp,
        total_runs=total_runs,
        skipped_count=skipped,
        derived_metric_refs=derived_metric_refs,
    )
    return handle


def _store_config(
    store: str | StoreConfig | None, file_root: str | None, workspace: Workspace | None
) -> StoreConfig:
    """The (unscoped) config of ``store``; ``None``: the workspace path, else upstream's
    ``./experiments``."""
    from metalab.store import DEFAULT_STORE_ROOT
    from metalab.store.file import FileStoreConfig
    from metalab.store.locator import parse_to_config

    if store is None:
        if workspace is not None:
            return FileStoreConfig(root=str(workspace.path))
        store = DEFAULT_STORE_ROOT
    if isinstance(store, str):
        return parse_to_config(store, file_root=file_root) if file_root else parse_to_config(store)
    return store


def _describe_store(config: StoreConfig) -> str:
    from metalab._placement import describe_store

    return describe_store(config)


def _describe_executor(executor: Any) -> str:
    """The executor's type and settings (SLURM: its config; pools: their size)."""
    from dataclasses import asdict, is_dataclass

    settings = getattr(executor, "config", None)
    if settings is not None and is_dataclass(settings) and not isinstance(settings, type):
        shown = {k: v for k, v in asdict(settings).items() if v not in (None, [], {})}
        return f"{type(executor).__name__} {shown}"
    workers = getattr(executor, "_max_workers", None)
    detail = f" (max_workers={workers})" if workers is not None else ""
    return f"{type(executor).__name__}{detail}"


def _log_counts(total: int, to_run: int, restored: int) -> None:
    skipped = total - to_run
    extra = f", {restored} of them restored from folders" if restored else ""
    if skipped:
        logger.info(
            "Runs: %d total, %d already completed (resume%s), %d to execute",
            total,
            skipped,
            extra,
            to_run,
        )
    else:
        logger.info("Runs: %d to execute", total)


def _metric_refs(derived_metrics: list[str | DerivedMetricFn] | None) -> list[str] | None:
    if not derived_metrics:
        return None
    from metalab.derived import get_func_ref

    return [m if isinstance(m, str) else get_func_ref(m) for m in derived_metrics]


def _with_progress(
    handle: RunHandle,
    progress: bool | Progress,
    title: str,
    total: int,
    on_event: EventCallback | None,
    default_title_wins: bool,
) -> ProgressRunHandle:
    from metalab.progress import Progress as ProgressConfig
    from metalab.progress import create_progress_tracker

    config = ProgressConfig(title=title) if progress is True else progress
    assert isinstance(config, ProgressConfig)
    if default_title_wins and config.title is None:
        config = ProgressConfig(
            title=title, style=config.style, display_metrics=config.display_metrics
        )
    tracker = create_progress_tracker(
        total=total,
        title=config.title or title,
        style=config.style,
        display_metrics=config.display_metrics,
    )
    wrapped = ProgressRunHandle(handle, tracker)
    if on_event is not None:
        wrapped.set_event_callback(on_event)
    return wrapped


def run(
    experiment: Experiment,
    store: str | StoreConfig | None = None,
    executor: Executor | None = None,
    file_root: str | None = None,
    resume: bool = True,
    progress: bool | Progress | None = None,
    on_event: EventCallback | None = None,
    derived_metrics: list[str | DerivedMetricFn] | None = None,
    verbose: bool = True,
    *,
    workspace: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    backup: bool = True,
) -> RunHandle:
    """Run an experiment; returns a handle at once (``handle.result()`` waits).

    Args:
        experiment: What to run.
        store: A locator (path, ``file://``, ``postgresql://``...) or a ``StoreConfig``;
            default ``./experiments``. The store is scoped to the experiment.
        executor: Where runs execute; default sequential in this process
            (``ThreadExecutor(max_workers=1)``). ``ThreadExecutor``,
            ``ProcessExecutor`` and ``SlurmExecutor`` run in parallel.
        file_root: Files root for a locator string that needs one (e.g. PostgreSQL).
        resume: Skip runs the store already holds as successful.
        progress: ``True`` or a ``Progress`` for a live progress display.
        on_event: Also receives run events (started, finished, failed, skipped).
        derived_metrics: Functions (importable) or ``"module:func"`` references
            computed from each successful run; they do not change run ids.
        verbose: Log the store, workspace, executor, environment and run counts
            (``metalab`` logger, stderr).
        workspace: The id of a workspace of the user settings (this project's addition,
            ``docs/settings-and-workspaces.md``). Without it, ``workdir``, else the first
            local workspace whose trigger matches the experiment id, else the first local
            workspace is used. With ``store=None`` the workspace path is the store root
            (no settings file or no local workspace: ``./experiments``).
        workdir: A directory to use as the workspace (relative to the cwd).
        env: Environment variables for every run, over the settings' and the workspace's
            ``env``; set here until ``result()`` returns, inherited by pool workers,
            exported by SLURM job scripts.
        backup: Archive successful runs in the workspace's ``backup``/``move`` folders
            when ``result()`` gathers them (``False``: not). Runs archived in its folders
            are restored instead of executed again, whatever ``backup`` says.

    Raises:
        NestedRunError: when called in a metalab worker, i.e. from a script a worker
            imported whose sweep is not under ``if __name__ == "__main__":``.
    """
    refuse_in_worker()
    if verbose:
        _ensure_verbose_logging()
    from metalab._placement import ExportedEnv, describe_env, place, with_store
    from metalab.workspace.run_settings import Archiver, SettingsRunHandle, experiment_root, prepare

    placement = place(experiment.experiment_id, workspace, workdir, env)
    config = _store_config(store, file_root, placement.workspace)
    placement = with_store(placement, config)
    logger.info("Store: %s (experiment: %s)", _describe_store(config), experiment.experiment_id)
    resolved_store = config.scoped(experiment.experiment_id).connect()
    logger.info("Workspace: %s", placement.describe_workspace())
    default_executor = executor is None
    if executor is None:
        from metalab.executor.thread import ThreadExecutor

        executor = ThreadExecutor(max_workers=1)
        logger.info("Executor: sequential (default)")
    else:
        logger.info("Executor: %s", _describe_executor(executor))
    logger.info("Env: %s", describe_env(placement.env))
    refs = _metric_refs(derived_metrics)

    root = experiment_root(resolved_store) if placement.archive else None
    archiver = Archiver(placement.archive, root, backup)
    sweep_ids: list[str] = []
    restored = 0
    if placement.archive is not None and root is not None:
        context_fp = _context_fingerprint(experiment, resolved_store, persist=False)
        sweep_ids = [run_id for run_id, *_ in _plan_runs(experiment, context_fp)]
        restored = prepare(resolved_store, root, sweep_ids, placement.archive, resume)
    exported = ExportedEnv(placement.env)
    exported.start()
    handle: RunHandle
    try:
        with exported.submitting():
            if hasattr(executor, "submit_indexed"):
                handle = _run_indexed(experiment, resolved_store, executor, resume, refs)
                total = _total_runs(experiment)
                logger.info("Runs: %d total (SLURM indexed)", total)
            else:
                payloads, run_ids = generate_payloads(
                    experiment, resolved_store, resume, derived_metric_refs=refs
                )
                sweep_ids = run_ids
                total = len(run_ids)
                _log_counts(total, len(payloads), restored)
                handle = executor.submit(
                    payloads=payloads,
                    store=resolved_store,
                    operation=experiment.operation,
                    run_ids=run_ids,
                )
    except BaseException:
        exported.stop()
        raise
    if default_executor:
        executor.shutdown(wait=False)  # its thread finishes the batch, then exits
    if exported.env or archiver.active:
        handle = SettingsRunHandle(handle, sweep_ids, archiver, exported, experiment.name)

    if on_event is not None and progress is None:
        handle.set_event_callback(on_event)
    if progress is not None and progress is not False:
        return _with_progress(handle, progress, experiment.name, total, on_event, True)
    return handle


def load_results(store: str | StoreConfig, experiment_id: str | None = None) -> Results:
    """The runs a store holds (all, or ``experiment_id``'s); the store is not scoped."""
    from metalab.result import Results
    from metalab.store.locator import parse_to_config

    config = parse_to_config(store) if isinstance(store, str) else store
    return Results.from_store(config.connect(), experiment_id=experiment_id)


def _load_manifest(store: Store) -> dict[str, Any]:
    """The executor manifest (``manifest.json``) in the store's working directory.

    Raises:
        TypeError: if the store has no working directory.
        FileNotFoundError: if there is no manifest.
    """
    from metalab.store import SupportsWorkingDirectory

    if not isinstance(store, SupportsWorkingDirectory):
        raise TypeError(
            f"Cannot load manifest from store type {type(store).__name__}. "
            "Store must support SupportsWorkingDirectory capability."
        )
    path = store.get_working_directory() / "manifest.json"
    if not path.exists():
        raise FileNotFoundError(
            f"No manifest found at {path}. Cannot reconnect without a manifest."
        )
    manifest: dict[str, Any] = json.loads(path.read_text())
    return manifest


def reconnect(
    store: str | StoreConfig,
    on_event: EventCallback | None = None,
    progress: bool | Progress | None = None,
    verbose: bool = True,
    **kwargs: Any,
) -> RunHandle:
    """Reattach to an experiment submitted to a cluster executor (e.g. SLURM).

    ``kwargs`` go to the store locator parser (e.g. ``file_root``). Runs of local
    executors cannot be reattached to: load them with :func:`load_results`.

    Raises:
        FileNotFoundError: if the store has no executor manifest.
        ValueError: for local executors and types without a reconnectable handle.
    """
    if verbose:
        _ensure_verbose_logging()
    from metalab.executor.registry import HandleRegistry
    from metalab.store.locator import parse_to_config

    config = parse_to_config(store, **kwargs) if isinstance(store, str) else store
    connected = config.connect()
    executor_type = _load_manifest(connected).get("executor_type")
    if executor_type in _LOCAL_EXECUTOR_TYPES:
        raise ValueError(
            f"Cannot reconnect to '{executor_type}' executor - local runs are synchronous. "
            "Use metalab.load_results() to retrieve completed results."
        )
    handle_class = HandleRegistry.get(str(executor_type))
    if handle_class is None:
        raise ValueError(
            f"No reconnectable handle registered for executor type '{executor_type}'. "
            f"Supported types: {HandleRegistry.types()}"
        )
    factory: Any = handle_class
    handle: RunHandle = factory.from_store(
        connected, on_event=on_event if progress is None else None
    )
    if on_event is not None and progress is None:
        handle.set_event_callback(on_event)
    if progress is not None and progress is not False:
        return _with_progress(handle, progress, "Experiment", handle.status.total, on_event, False)
    return handle
