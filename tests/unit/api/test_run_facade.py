"""metalab.run: run ids, resume, default store, manifests, derived metrics, worker refusal."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from metalab.events import Event, EventKind
from metalab.executor import _worker
from metalab.executor.thread import ThreadExecutor
from metalab.experiment import Experiment
from metalab.operation import OperationWrapper
from metalab.params import grid
from metalab.runner import load_results, run
from metalab.seeds import seeds
from metalab.types import Status
from tests.unit.api import ops


def root_of(store: Any) -> Path:
    """A file store's directory."""
    return Path(store.root)


def experiment(op: OperationWrapper = ops.double, xs: tuple[int, ...] = (1, 2, 3)) -> Experiment:
    return Experiment(
        name="facade",
        version="1",
        context={},
        operation=op,
        params=grid(x=list(xs)),
        seeds=seeds(base=7, replicates=2),
    )


def test_runs_every_param_case_and_replicate(tmp_path: Path) -> None:
    results = run(experiment(), store=str(tmp_path), verbose=False).result()
    assert len(results) == 6
    assert sorted(r.metrics["y"] for r in results) == [2, 2, 4, 4, 6, 6]
    assert {r.status for r in results} == {Status.SUCCESS}


def test_run_ids_are_deterministic(tmp_path: Path) -> None:
    first = run(experiment(), store=str(tmp_path / "a"), verbose=False).result()
    second = run(experiment(), store=str(tmp_path / "b"), verbose=False).result()
    assert sorted(r.run_id for r in first) == sorted(r.run_id for r in second)


def test_resume_skips_stored_successes(tmp_path: Path) -> None:
    run(experiment(xs=(1, 2)), store=str(tmp_path), verbose=False).result()
    events: list[Event] = []
    handle = run(
        experiment(xs=(1, 2, 3)), store=str(tmp_path), on_event=events.append, verbose=False
    )
    results = handle.result()
    status = handle.status
    assert (status.total, status.skipped, status.completed) == (6, 4, 2)
    assert len(results) == 6
    kinds = [e.kind for e in events]
    assert kinds.count(EventKind.RUN_SKIPPED) == 4
    assert kinds.count(EventKind.RUN_FINISHED) == 2


def test_resume_false_runs_everything_again(tmp_path: Path) -> None:
    run(experiment(), store=str(tmp_path), verbose=False).result()
    handle = run(experiment(), store=str(tmp_path), resume=False, verbose=False)
    handle.result()
    assert handle.status.completed == 6
    assert handle.status.skipped == 0


def test_failed_runs_are_retried_on_resume(tmp_path: Path) -> None:
    failing = run(experiment(ops.explode), store=str(tmp_path), verbose=False).result()
    assert {r.status for r in failing} == {Status.FAILED}
    assert failing[0].record.error is not None
    assert failing[0].record.error["type"] == "ValueError"
    again = run(experiment(ops.explode), store=str(tmp_path), verbose=False)
    again.result()
    assert again.status.failed == 6


def test_default_store_is_experiments_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    handle = run(experiment(xs=(1,)), verbose=False)
    handle.result()
    assert (tmp_path / "experiments").is_dir()
    assert root_of(handle.store).resolve().parent == (tmp_path / "experiments").resolve()


def test_experiment_manifest_is_written(tmp_path: Path) -> None:
    handle = run(experiment(), store=str(tmp_path), verbose=False)
    results = handle.result()
    (path,) = (root_of(handle.store) / "experiments").glob("facade_1_*.json")
    manifest = json.loads(path.read_text())
    assert manifest["total_runs"] == 6
    assert sorted(manifest["run_ids"]) == sorted(r.run_id for r in results)
    assert manifest["operation"]["ref"] == "tests.unit.api.ops:double"
    assert manifest["params"]["type"] == "GridSource"
    assert manifest["seeds"] == {"type": "SeedPlan", "base": 7, "replicates": 2}


def test_derived_metrics_by_function_and_reference(tmp_path: Path) -> None:
    for metric in (ops.doubled_twice, "tests.unit.api.ops:doubled_twice"):
        store = tmp_path / str(len(str(metric)))
        handle = run(experiment(xs=(3,)), store=str(store), derived_metrics=[metric], verbose=False)
        results = handle.result()
        derived = [handle.store.get_derived(r.run_id) for r in results]
        assert [d["y2"] if d else None for d in derived] == [12, 12]


def test_executor_is_used_and_left_open(tmp_path: Path) -> None:
    with ThreadExecutor(max_workers=3) as executor:
        first = run(experiment(), store=str(tmp_path), executor=executor, verbose=False)
        assert len(first.result()) == 6
        second = run(experiment(), store=str(tmp_path), executor=executor, verbose=False)
        assert second.status.skipped == 6


def test_load_results_reads_a_scoped_store(tmp_path: Path) -> None:
    handle = run(experiment(), store=str(tmp_path), verbose=False)
    handle.result()
    loaded = load_results(str(root_of(handle.store)))
    assert len(loaded) == 6


def test_run_refuses_inside_a_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_worker, "_in_worker", True)
    with pytest.raises(_worker.NestedRunError, match='if __name__ == "__main__":'):
        run(experiment(), store=str(tmp_path), verbose=False)
    assert not tmp_path.joinpath("facade_1").exists()


def test_verbose_logs_the_plan(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="metalab"):
        run(experiment(), store=str(tmp_path), verbose=True).result()
    messages = [r.getMessage() for r in caplog.records if r.name == "metalab.runner"]
    assert "Runs: 6 to execute" in messages
    assert "Executor: sequential (default)" in messages


def test_progress_handle_closes_its_tracker(tmp_path: Path) -> None:
    entered: list[Any] = []

    class Tracker:
        def __enter__(self) -> Tracker:
            entered.append("enter")
            return self

        def __exit__(self, *exc: object) -> None:
            entered.append("exit")

        def __call__(self, event: Event) -> None:
            entered.append(event.kind)

    from metalab.runner import ProgressRunHandle

    inner = run(experiment(xs=(1,)), store=str(tmp_path), verbose=False)
    handle = ProgressRunHandle(inner, Tracker())  # type: ignore[arg-type]
    handle.result()
    handle.result()
    assert entered[0] == "enter"
    assert entered.count("exit") == 1
    assert EventKind.RUN_FINISHED in entered
