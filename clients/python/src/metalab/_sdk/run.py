"""`metalab.run()`: resolve the store and executor, skip finished runs, start the rest."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from metalab._runstore.base import COMPLETED, Store, StoreConfig
from metalab._runstore.file import FileStoreConfig
from metalab._runstore.locator import resolve_store
from metalab._sdk.archiving import Archiver, prepare, settle
from metalab._sdk.experiment import Experiment, RunSpec, load_operation
from metalab._sdk.placement import Placement, describe_env, exported, place, with_store
from metalab._sdk.result import DoneHandle, Result
from metalab._sdk.runner import execute_run, next_attempt
from metalab._workspaces import default_store_root
from metalab.errors import ConfigError

log = logging.getLogger("metalab.run")


def _executor(value: Any) -> Any:
    """An executor object, None (in-process), a type name, or ``{"type": ..., **settings}``."""
    from metalab._sweep.resolve import resolve_executor

    if isinstance(value, str):
        return resolve_executor(value, {})
    if isinstance(value, Mapping):
        settings = dict(value)
        kind = settings.pop("type", None)
        if not isinstance(kind, str):
            raise ConfigError(
                "an executor mapping needs a 'type' (e.g. local, slurm)", key="executor.type"
            )
        return resolve_executor(kind, settings)
    if value is not None and not hasattr(value, "submit"):
        raise ConfigError(
            f"executor must be an executor, None, a type name or a mapping "
            f"(got {type(value).__name__})",
            key="executor",
        )
    return value


def run(
    experiment: Experiment,
    store: Any = None,
    executor: Any = None,
    *,
    resume: bool = True,
    capture_output: bool = True,
    workspace: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    backup: bool = True,
) -> Result:
    """Run every (params, seed) of ``experiment`` that is not already completed in ``store``.

    With ``executor=None`` the runs execute here, before `run` returns; otherwise they are
    submitted and the returned `Result` follows them (``wait()``, ``cancel()``, ``table()``).
    Failed, cancelled and interrupted runs are retried; ``resume=False`` reruns everything.

    The user settings apply (``docs/settings-and-workspaces.md``): the workspace (``workspace``
    id, else ``workdir``, else triggers, else the first local one) is the store when
    ``store=None``; settings ``env`` < workspace ``env`` < ``env`` is exported to every run; runs
    missing here but archived in the workspace's folders are restored instead of re-run, and
    completed runs are archived to its ``backup``/``move`` folders (``backup=False``: not).
    """
    if not isinstance(experiment, Experiment):
        raise ConfigError(f"run() needs an Experiment (got {type(experiment).__name__})")
    experiment_id = experiment.experiment_id
    placement = place(experiment_id, workspace, workdir, env)
    if store is None:
        config: StoreConfig = FileStoreConfig(str(default_store_root(placement.workspace)))
    else:
        config = resolve_store(store)
    placement = with_store(placement, config)
    executor = _executor(executor)
    _log_resolution(experiment_id, config, placement, executor)
    opened = config.open()
    specs = experiment.runs()
    settle(opened, experiment_id, placement.archive)
    states = opened.run_states(experiment_id)
    if resume:
        todo = [s for s in specs if getattr(states.get(s.run_id), "status", None) != COMPLETED]
    else:
        todo = list(specs)
    todo, restored = prepare(opened, experiment_id, todo, placement.archive, restore=resume)
    attempts = {s.run_id: next_attempt(states, s.run_id) for s in todo}
    log.info(
        "runs: total=%d to_run=%d already_done=%d%s",
        len(specs),
        len(todo),
        len(specs) - len(todo),
        f" ({len(restored)} restored from folders)" if restored else "",
    )
    ids = [s.run_id for s in specs]
    opened.put_experiment(experiment.spec(), len(specs), ids)
    archiver = Archiver(placement.archive, opened, experiment_id, backup)
    pending = {s.run_id for s in todo}
    done = [rid for rid in ids if rid not in pending]
    if not todo:
        archiver.catch_up(done)
        archiver.drain()
        return Result(experiment_id, ids, 0, config, opened, DoneHandle("nothing to run"), archiver)
    if executor is None:
        operation = experiment.operation
        op = load_operation(operation) if isinstance(operation, str) else operation
        archiver.catch_up(done)
        try:
            with exported(placement.env):
                _run_here(opened, experiment_id, op, todo, attempts, capture_output, archiver)
        finally:
            archiver.drain()
        handle = DoneHandle("in-process")
        return Result(experiment_id, ids, len(todo), config, opened, handle, archiver)
    from metalab._sweep.base import SweepPlan

    plan = SweepPlan(
        experiment_id=experiment_id,
        operation=experiment.operation_path,
        runs=todo,
        attempts=attempts,
        store=config,
        work_dir=opened.experiment_dir(experiment_id) / ".metalab",
        python_path=_python_path(),
        capture_output=capture_output,
        env=dict(placement.env),
    )
    handle = executor.submit(plan)
    log.info("submitted: %s", handle.describe())
    archiver.expect(pending)
    archiver.catch_up(done)  # after submit: the local pool forks, never beside our thread
    archiver.drain()  # the catch-up only; this sweep's runs are archived by `Result.wait()`
    return Result(experiment_id, ids, len(todo), config, opened, handle, archiver)


def _run_here(
    store: Store,
    experiment_id: str,
    operation: Callable[..., Any],
    todo: list[RunSpec],
    attempts: Mapping[str, int],
    capture_output: bool,
    archiver: Archiver,
) -> None:
    """Execute ``todo`` in this process, queueing each completed run for archiving."""
    for number, spec in enumerate(todo, 1):
        record = execute_run(
            store, experiment_id, operation, spec, attempts[spec.run_id], capture_output
        )
        log.debug("run %d/%d %s: %s", number, len(todo), spec.run_id, record.status)
        if record.status == COMPLETED:
            archiver.completed(spec.run_id)


def _log_resolution(
    experiment_id: str, config: StoreConfig, placement: Placement, executor: Any
) -> None:
    """What was picked, at INFO: store (no password), workspace, executor settings, env."""
    log.info("store: %s (experiment %s)", config.describe(), experiment_id)
    log.info("workspace: %s", placement.describe_workspace())
    if executor is None:
        log.info("executor: in-process")
    else:
        log.info("executor: %s %s", executor.type_name, executor.settings)
    log.info("env: %s", describe_env(placement.env))


def _python_path() -> list[str]:
    """The import path workers need: cwd plus this process's non-site-packages entries."""
    entries = [str(Path.cwd())]
    for entry in sys.path:
        if (
            entry
            and "site-packages" not in entry
            and "dist-packages" not in entry
            and not entry.endswith(".zip")
            and Path(entry).is_dir()
        ):
            entries.append(str(Path(entry).resolve()))
    return list(dict.fromkeys(entries))
