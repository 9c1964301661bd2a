"""Execute one planned run from plain data (used by process-pool workers and SLURM tasks)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from metalab._runstore.base import RunRecord, Store
from metalab._runstore.locator import store_config_from_json
from metalab._sdk.experiment import RunSpec, load_operation
from metalab._sdk.runner import execute_run
from metalab.errors import ConfigError

_stores: dict[str, Store] = {}


def extend_sys_path(entries: Sequence[str]) -> None:
    """Make the submitting process's import path available (the operation's module is on it)."""
    for entry in reversed(list(entries)):
        if entry not in sys.path:
            sys.path.insert(0, entry)


def store_for(store_json: dict[str, Any]) -> Store:
    """One open store per worker process and store (connections are reused across runs)."""
    key = json.dumps(store_json, sort_keys=True)
    store = _stores.get(key)
    if store is None:
        store = store_config_from_json(store_json).open()
        _stores[key] = store
    return store


def run_planned(
    experiment_id: str,
    operation: str,
    store_json: dict[str, Any],
    spec_json: dict[str, Any],
    attempt: int,
    capture_output: bool,
    python_path: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> RunRecord:
    """Run one planned run in this (worker) process; ``env`` is exported here first."""
    if env:
        os.environ.update(env)
    extend_sys_path(python_path)
    store = store_for(store_json)
    try:
        op = load_operation(operation)
    except ConfigError as exc:
        error = exc

        def op(params: dict[str, Any], seed: int, capture: object) -> None:
            raise error  # recorded as this run's failure, with the import error as its cause

    return execute_run(
        store, experiment_id, op, RunSpec.from_json(spec_json), attempt, capture_output
    )
