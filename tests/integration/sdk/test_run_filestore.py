"""`metalab.run()` in-process and on a process pool against a FileStore (upstream's layout)."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import metalab
from tests.integration.sdk import ops
from tests.integration.sdk.ops import statuses


def experiment(replicates: int = 2) -> metalab.Experiment:
    return ops.train_sweep("sweep", replicates)


def test_default_store_layout(work_dir: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, "metalab")
    results = metalab.run(experiment()).result()
    root = work_dir / "experiments" / "sweep_1"
    assert json.loads((root / "_meta.json").read_text())["experiment_id"] == "sweep:1"
    (manifest,) = (root / "experiments").glob("sweep_1_*.json")
    assert json.loads(manifest.read_text())["total_runs"] == 8
    assert statuses(results) == {"success": 4, "failed": 4}
    run = results.successful[0]
    record = json.loads((root / "runs" / f"{run.run_id}.json").read_text())
    assert record["metrics"]["loss"] == run.metrics["loss"] and record["status"] == "success"
    assert run.artifact("model") == {"params": run.params}
    failed = results.failed[0]
    assert failed.error is not None and "asked to fail" in failed.error["message"]
    assert "Traceback" in failed.error["traceback"]
    assert "Store: FileStore" in caplog.text and "Executor: sequential (default)" in caplog.text
    assert "Runs: 8 to execute" in caplog.text


def test_resume_skips_successes_and_retries_failures(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = str(tmp_path / "s")
    metalab.run(experiment(), store=store).result()
    caplog.clear()
    caplog.set_level(logging.INFO, "metalab")
    handle = metalab.run(experiment(), store=store)
    results = handle.result()
    assert "Runs: 8 total, 4 already completed (resume), 4 to execute" in caplog.text
    assert handle.status.skipped == 4 and statuses(results) == {"success": 4, "failed": 4}


def test_a_subset_of_the_same_runs_counts_only_its_own(tmp_path: Path) -> None:
    store = str(tmp_path / "s")
    metalab.run(experiment(replicates=3), store=store).result()
    handle = metalab.run(experiment(replicates=1), store=store)
    results = handle.result()
    assert handle.status.total == len(results) == 4


def test_table_has_params_metrics_and_status(tmp_path: Path) -> None:
    results = metalab.run(experiment(), store=str(tmp_path)).result()
    table = results.to_dataframe()
    assert {"run_id", "status", "param_lr", "loss"} <= set(table.columns)
    assert len(table) == 8


def test_process_pool_and_resume(tmp_path: Path) -> None:
    with metalab.ProcessExecutor(max_workers=2) as executor:
        results = metalab.run(experiment(replicates=3), store=str(tmp_path), executor=executor)
        assert statuses(results.result(timeout=60)) == {"success": 6, "failed": 6}
        again = metalab.run(experiment(replicates=3), store=str(tmp_path), executor=executor)
        again.result(timeout=60)
    assert again.status.skipped == 6 and again.status.total == 12


def test_importing_metalab_is_cheap() -> None:
    code = (
        "import sys, metalab; "
        "print(sorted(m for m in ('grpc', 'psycopg', 'pydantic', 'yaml', 'numpy', 'pandas', "
        "'rich', 'metalab.workspace') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_progress_off_a_terminal_is_plain_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = metalab.Experiment(
        name="progress",
        version="1",
        context={},
        operation=ops.noop,
        params=metalab.grid(i=[1, 2, 3]),
        seeds=metalab.seeds(base=0),
    )
    metalab.run(exp, store=str(tmp_path / "store"), progress=True, verbose=False).result()
    captured = capsys.readouterr()
    assert "\r" not in captured.out + captured.err
    assert "Success: 3" in captured.out + captured.err
