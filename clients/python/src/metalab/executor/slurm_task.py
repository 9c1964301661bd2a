"""One SLURM array task: ``python -m metalab.executor.slurm_task BATCH_DIR OFFSET TASK``.

Runs payload chunk ``OFFSET + TASK`` of the batch written by ``SlurmExecutor`` and
records each run in the store. Exit code: 0 every run succeeded, 1 a run failed
(recorded), 2 the task could not start (message on stderr).
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import sys
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

from metalab.executor._worker import NestedRunError, mark_worker

if TYPE_CHECKING:
    from metalab.executor.payload import RunPayload
    from metalab.operation import OperationWrapper
    from metalab.store.base import Store

USAGE = "usage: python -m metalab.executor.slurm_task BATCH_DIR OFFSET TASK"
SCRIPT_MODULE = "__mp_main__"
_STOPPED_AT_RUN = "__metalab_stopped_at_run__"


def load_script(path: str) -> ModuleType:
    """Import the user's script as ``__mp_main__`` (its ``__main__`` guard is false).

    A script without the guard calls ``metalab.run`` at its top level; here that call raises
    `NestedRunError`, which ends the import: what the script defined above the call (the
    operation, typically) is loaded, and the sweep is not started a second time.
    """
    spec = importlib.util.spec_from_file_location(SCRIPT_MODULE, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[SCRIPT_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except NestedRunError:
        module.__dict__[_STOPPED_AT_RUN] = True
    return module


def load_operation(source: dict[str, Any]) -> tuple[OperationWrapper, ModuleType | None]:
    """The operation named by ``source`` and the script module it came from, if any."""
    from metalab.operation import OperationWrapper, import_operation

    script = source.get("script")
    if not script:
        return import_operation(source["ref"]), None
    module = load_script(script)
    obj: Any = module
    for part in source["ref"].partition(":")[2].split("."):
        found = getattr(obj, part, None)
        if found is None and module.__dict__.get(_STOPPED_AT_RUN):
            raise AttributeError(
                f"{source['ref']} is defined after the script's metalab.run(...) call; define "
                'it above the call, or put the sweep under `if __name__ == "__main__":`'
            )
        obj = getattr(obj, part)
    if not isinstance(obj, OperationWrapper):
        raise TypeError(f"Expected OperationWrapper, got {type(obj).__name__}")
    return obj, module


class _ScriptUnpickler(pickle.Unpickler):
    """Resolves classes the submitting script defined (pickled as ``__main__``)."""

    def __init__(self, file: IO[bytes], script: ModuleType | None) -> None:
        super().__init__(file)
        self._script = script

    def find_class(self, module: str, name: str) -> Any:
        if module == "__main__" and self._script is not None:
            module = self._script.__name__
        return super().find_class(module, name)


def main(argv: list[str]) -> int:
    if len(argv) != 3 or not all(a.isdigit() for a in argv[1:]):
        print(USAGE, file=sys.stderr)
        return 2
    mark_worker()
    batch_dir, chunk = Path(argv[0]), int(argv[1]) + int(argv[2])
    try:
        batch = json.loads((batch_dir / "batch.json").read_text())
    except (OSError, ValueError) as exc:
        print(f"metalab task: cannot read {batch_dir}: {exc}", file=sys.stderr)
        return 2
    for entry in reversed(batch.get("python_path", [])):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    chunk_size = int(batch.get("chunk_size", 1))
    try:
        operation, script = load_operation(batch["operation"])
        payloads = read_payloads(batch_dir, script)
    except Exception as exc:  # noqa: BLE001 - reported as one line; the task cannot start
        print(f"metalab task: {type(exc).__name__}: {exc}", file=sys.stderr)
        record_start_failure(batch_dir, chunk, chunk_size, exc)
        return 2
    return run_chunk(operation, payloads, chunk, chunk_size)


def read_payloads(batch_dir: Path, script: ModuleType | None) -> list[dict[str, Any]]:
    with (batch_dir / "payloads.pkl").open("rb") as f:
        payloads: list[dict[str, Any]] = _ScriptUnpickler(f, script).load()
    return payloads


def record_start_failure(batch_dir: Path, chunk: int, chunk_size: int, error: Exception) -> None:
    """Record the chunk's runs as failed with ``error``, when their payloads can be read.

    The user's script may have failed halfway through its import; the classes it defined
    before failing still resolve (``sys.modules["__mp_main__"]``).
    """
    from metalab.executor.payload import RunPayload
    from metalab.store.config import StoreConfig
    from metalab.types import Provenance, RunRecord

    try:
        payloads = read_payloads(batch_dir, sys.modules.get(SCRIPT_MODULE))
        for data in payloads[chunk * chunk_size : (chunk + 1) * chunk_size]:
            payload = RunPayload.from_dict(data)
            store = StoreConfig.from_dict(payload.store_locator).connect()
            store.put_run_record(
                RunRecord.failed(
                    run_id=payload.run_id,
                    experiment_id=payload.experiment_id,
                    context_fingerprint=payload.fingerprints.get("context", ""),
                    params_fingerprint=payload.fingerprints.get("params", ""),
                    seed_fingerprint=payload.fingerprints.get("seed", ""),
                    error_type=type(error).__name__,
                    error_message=str(error),
                    provenance=Provenance(executor_id="slurm"),
                    params_resolved=payload.params_resolved,
                )
            )
            close = getattr(store, "close", None)
            if callable(close):
                close()
    except Exception as exc:  # noqa: BLE001 - the task's stderr already names the cause
        print(f"metalab task: could not record the failure: {exc}", file=sys.stderr)


def run_chunk(
    operation: OperationWrapper, payloads: list[dict[str, Any]], chunk: int, chunk_size: int
) -> int:
    from metalab.executor.payload import RunPayload
    from metalab.store.config import StoreConfig

    job = os.environ.get("SLURM_ARRAY_JOB_ID", "0")
    exit_code = 0
    stores: dict[str, Any] = {}
    try:
        for data in payloads[chunk * chunk_size : (chunk + 1) * chunk_size]:
            payload = RunPayload.from_dict(data)
            key = json.dumps(payload.store_locator, sort_keys=True, default=str)
            if key not in stores:
                stores[key] = StoreConfig.from_dict(payload.store_locator).connect()
            if not run_one(operation, payload, stores[key], f"slurm:{job}_{chunk}"):
                exit_code = 1
    finally:
        for store in stores.values():
            close = getattr(store, "close", None)
            if callable(close):
                close()
    return exit_code


def run_one(operation: OperationWrapper, payload: RunPayload, store: Store, worker: str) -> bool:
    """Execute one payload; True if the run succeeded."""
    from metalab.executor.core import execute_payload

    record = execute_payload(
        run_id=payload.run_id,
        experiment_id=payload.experiment_id,
        context_spec=payload.context_spec,
        params_resolved=payload.params_resolved,
        seed_bundle=payload.seed_bundle,
        fingerprints=payload.fingerprints,
        metadata=payload.metadata,
        operation=operation,
        store=store,
        worker_id=worker,
        derived_metric_refs=payload.derived_metric_refs,
        capture_third_party_logs=True,
    )
    print(f"metalab task {record.run_id}: {record.status.value}")
    return record.status.value == "success"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
