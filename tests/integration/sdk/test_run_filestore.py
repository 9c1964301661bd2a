"""`metalab.run()` in-process and on the local process pool, against a FileStore."""

import json
import logging
import subprocess
import sys

from metalab._runstore.file import FileStore
from metalab._sdk import legacy as metalab
from tests.integration.sdk import ops


def experiment(seeds: int = 2) -> metalab.Experiment:
    params = metalab.grid(lr=[0.1, 0.2], fail=[False, True])
    return metalab.Experiment("sweep", ops.train, params=params, seeds=seeds)


def test_default_store_layout(clean_environ, caplog):
    caplog.set_level(logging.INFO, "metalab")
    result = metalab.run(experiment())
    root = clean_environ / "experiments" / "sweep"
    spec = json.loads((root / "experiment.json").read_text())
    assert spec["total_runs"] == 8 and spec["operation"] == "tests.integration.sdk.ops:train"
    assert result.status_counts() == {"completed": 4, "failed": 4}
    run = next(r for r in result.runs() if r.status == "completed")
    directory = root / "runs" / run.run_id
    record = json.loads((directory / "run.json").read_text())
    assert record["metrics"]["loss"] == run.metrics["loss"] and record["schema"] == "metalab.run/1"
    assert (directory / "logs" / "stdout.txt").read_text().startswith("trained")
    assert json.loads((directory / "artifacts" / "model.json").read_text())["params"] == run.params
    steps = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
    assert [(s["name"], s["step"]) for s in steps] == [("acc", 0), ("acc", 1), ("acc", 2)]
    failed = next(r for r in result.runs() if r.status == "failed")
    assert failed.error is not None and failed.traceback is not None
    assert "asked to fail" in failed.error and "Traceback" in failed.traceback
    text = caplog.text
    assert "FileStore" in text and "in-process" in text
    assert "total=8 to_run=8 already_done=0" in text


def test_resume_skips_completed_and_retries_failed(tmp_path, caplog):
    caplog.set_level(logging.INFO, "metalab")
    store = str(tmp_path / "s")
    metalab.run(experiment(), store=store)
    caplog.clear()
    result = metalab.run(experiment(), store=store)
    assert "total=8 to_run=4 already_done=4" in caplog.text
    counts = result.status_counts()
    assert counts == {"completed": 4, "failed": 4}
    attempts = {r.run_id: r.attempt for r in result.runs() if r.status == "failed"}
    assert set(attempts.values()) == {2}
    steps = FileStore(tmp_path / "s").read_steps("sweep", next(iter(attempts)))
    assert len(steps) == 3  # the previous attempt's steps were dropped


def test_completed_count_never_exceeds_total(tmp_path):
    store = str(tmp_path / "s")
    metalab.run(experiment(seeds=3), store=store)
    result = metalab.run(experiment(seeds=1), store=store)  # a subset of the same runs
    counts = result.status_counts()
    assert sum(counts.values()) == result.total == 4
    assert len(result.table()) == 4


def test_table_has_params_metrics_and_status(tmp_path):
    result = metalab.run(experiment(), store=tmp_path)
    table = result.table()
    assert {"run_id", "status", "seed", "params.lr", "metrics.loss"} <= set(table.columns)
    assert "status" in str(table).splitlines()[0]


def test_local_process_pool(tmp_path):
    executor = metalab.executor_from_config("local", {"workers": 2})
    result = metalab.run(experiment(seeds=3), store=tmp_path, executor=executor)
    result.wait(timeout=60)
    assert result.status_counts() == {"completed": 6, "failed": 6}
    again = metalab.run(experiment(seeds=3), store=tmp_path, executor=executor).wait(timeout=60)
    assert again.skipped == 6 and again.submitted == 6


def test_importing_metalab_is_cheap():
    code = (
        "import sys, metalab; "
        "print(sorted(m for m in ('grpc', 'psycopg', 'pydantic', 'yaml', 'metalab._sdk') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_public_api_is_pinned():
    assert metalab.__all__ == [
        "Capture",
        "ConfigError",
        "Experiment",
        "ExperimentConfig",
        "FileStoreConfig",
        "LocalExecutorConfig",
        "MetalabError",
        "PostgresStoreConfig",
        "Result",
        "SchedulerError",
        "SlurmExecutorConfig",
        "StoreConfig",
        "StoreError",
        "choice",
        "executor_from_config",
        "grid",
        "load_experiment_config",
        "loguniform",
        "param_list",
        "randint",
        "random",
        "register_executor",
        "reindex",
        "resolve_executor",
        "run",
        "uniform",
    ]
    for name in metalab.__all__:
        assert getattr(metalab, name) is not None


def test_wait_progress_off_a_terminal_is_one_line_per_change(tmp_path, capsys):
    exp = metalab.Experiment("progress", ops.noop, params=metalab.grid(x=[1, 2, 3]), seeds=1)
    metalab.run(exp, store=tmp_path / "store").wait(progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert lines == ["progress: 3/3 finished (3 completed)"]  # no \r, no repeats
