"""`metalab.run()`: resolve the store and executor, skip finished runs, start the rest."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from metalab._sdk.experiment import Experiment, load_operation
from metalab._sdk.result import DoneHandle, Result
from metalab._sdk.runner import execute_run, next_attempt
from metalab.errors import ConfigError
from metalab.store.base import COMPLETED
from metalab.store.locator import resolve_store

log = logging.getLogger("metalab.run")


def _executor(value: Any) -> Any:
    """An executor object, None (in-process), a type name, or ``{"type": ..., **settings}``."""
    from metalab.executor.resolve import resolve_executor

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
) -> Result:
    """Run every (params, seed) of ``experiment`` that is not already completed in ``store``.

    With ``executor=None`` the runs execute here, before `run` returns; otherwise they are
    submitted and the returned `Result` follows them (``wait()``, ``cancel()``, ``table()``).
    Failed, cancelled and interrupted runs are retried; ``resume=False`` reruns everything.
    """
    if not isinstance(experiment, Experiment):
        raise ConfigError(f"run() needs an Experiment (got {type(experiment).__name__})")
    config = resolve_store(store)
    executor = _executor(executor)
    opened = config.open()
    experiment_id = experiment.experiment_id
    specs = experiment.runs()
    states = opened.run_states(experiment_id)
    if resume:
        todo = [s for s in specs if getattr(states.get(s.run_id), "status", None) != COMPLETED]
    else:
        todo = list(specs)
    attempts = {s.run_id: next_attempt(states, s.run_id) for s in todo}
    log.info("store: %s (experiment %s)", config.describe(), experiment_id)
    if executor is None:
        log.info("executor: in-process")
    else:
        log.info("executor: %s %s", executor.type_name, executor.settings)
    log.info(
        "runs: total=%d to_run=%d already_done=%d", len(specs), len(todo), len(specs) - len(todo)
    )
    opened.put_experiment(experiment.spec(), len(specs))
    ids = [s.run_id for s in specs]
    if not todo:
        return Result(experiment_id, ids, 0, config, opened, DoneHandle("nothing to run"))
    if executor is None:
        operation = experiment.operation
        op = load_operation(operation) if isinstance(operation, str) else operation
        for number, spec in enumerate(todo, 1):
            record = execute_run(
                opened, experiment_id, op, spec, attempts[spec.run_id], capture_output
            )
            log.debug("run %d/%d %s: %s", number, len(todo), spec.run_id, record.status)
        return Result(experiment_id, ids, len(todo), config, opened, DoneHandle("in-process"))
    from metalab.executor.base import SweepPlan

    plan = SweepPlan(
        experiment_id=experiment_id,
        operation=experiment.operation_path,
        runs=todo,
        attempts=attempts,
        store=config,
        work_dir=opened.experiment_dir(experiment_id) / ".metalab",
        python_path=_python_path(),
        capture_output=capture_output,
    )
    handle = executor.submit(plan)
    log.info("submitted: %s", handle.describe())
    return Result(experiment_id, ids, len(todo), config, opened, handle)


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
