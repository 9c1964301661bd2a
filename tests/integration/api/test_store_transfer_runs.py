"""Runs written by `metalab.run` move to PostgreSQL and back with `metalab store export|import`
and stay the same runs: equal tables, artifacts that load, and a resumed run skips them all."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from metalab.capture import Capture
from metalab.experiment import Experiment
from metalab.operation import operation
from metalab.params import grid
from metalab.runner import load_results, run
from metalab.seeds import seeds
from metalab.store import FileStoreConfig, PostgresStoreConfig, parse_to_config
from tests.helpers import run_cli

pytestmark = pytest.mark.postgres


@operation
def fit(params: dict[str, Any], capture: Capture) -> None:
    capture.metric("loss", params["lr"] * 2)
    for step in range(3):
        capture.metric("acc", 0.1 * step, step=step)
    capture.log(f"fitting lr={params['lr']}")
    capture.artifact("summary", {"lr": params["lr"]})


EXPERIMENT = Experiment(
    name="moved",
    version="1.0",
    context={},
    operation=fit,
    params=grid(lr=[0.1, 0.2]),
    seeds=seeds(base=7, replicates=2),
)


def table(results: Any) -> list[dict[str, Any]]:
    return sorted(results.table(), key=lambda row: str(row["run_id"]))


def move(source: str, destination: str, cwd: Path) -> str:
    done = run_cli(
        "store", "export", "-f", source, "-t", destination, "--include-artifacts", cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_runs_of_metalab_run_there_and_back(pg_dsn: str, tmp_path: Path) -> None:
    original = tmp_path / "runs"
    run(EXPERIMENT, store=str(original), verbose=False).result()
    scope = FileStoreConfig(root=str(original)).for_experiment(EXPERIMENT.experiment_id)
    before = table(load_results(scope))
    assert len(before) == 4

    locator = f"{pg_dsn}&file_root={tmp_path / 'pg-files'}"
    assert "  runs: 4\n" in move(str(original), locator, tmp_path)
    in_postgres = parse_to_config(locator, experiment_id=EXPERIMENT.experiment_id)
    assert isinstance(in_postgres, PostgresStoreConfig)
    assert table(load_results(in_postgres)) == before

    back = tmp_path / "back"
    assert "  runs: 4\n" in move(locator, f"file://{back}", tmp_path)
    copied = load_results(FileStoreConfig(root=str(back)).for_experiment(EXPERIMENT.experiment_id))
    assert table(copied) == before
    assert sorted(r.artifact("summary")["lr"] for r in copied) == [0.1, 0.1, 0.2, 0.2]

    resumed = run(EXPERIMENT, store=str(back), verbose=False)
    resumed.result()
    assert resumed.status.skipped == 4
