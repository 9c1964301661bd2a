"""Capture and Results over a real FileStore: files on disk in upstream's layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from metalab.capture import Capture
from metalab.result import Results
from metalab.store import FileStoreConfig
from metalab.types import Metric, RunRecord


def test_capture_then_read_back(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    store = FileStoreConfig(root=str(tmp_path)).connect()
    run_id = "0123456789abcdef"
    with Capture(store, run_id, artifact_dir=tmp_path / "scratch") as capture:
        capture.log("hello from the run")
        capture.metric("loss", 0.25)
        capture.metric("curve", 0.5, step=1)
        capture.data("matrix", np.eye(2))
        capture.artifact("summary", {"ok": True})
        capture.artifact("weights", np.arange(4.0))
    summary = capture.finalize()
    store.put_run_record(
        RunRecord.success(
            run_id=run_id,
            experiment_id="exp:1",
            metrics=summary["metrics"],
            artifacts=summary["artifacts"],
        )
    )

    results = Results.from_store(store)
    run = results[0]
    assert run.artifact("summary") == {"ok": True}
    assert np.array_equal(run.artifact("weights"), np.arange(4.0))
    assert np.array_equal(run.data("matrix"), np.eye(2))
    assert run.data("curve") == [[1, 0.5]]
    assert sorted(run.list_data()) == ["curve", "matrix"]
    assert "hello from the run" in (store.get_log(run_id, "run") or "")
    assert results.table()[0]["loss"] == 0.25

    def doubled(r: object) -> dict[str, Metric]:
        return {"loss_x2": 0.5}

    results.compute_derived([doubled])
    assert json.loads((tmp_path / "derived" / f"{run_id}.json").read_text()) == {"loss_x2": 0.5}
    assert results.to_dataframe(include_derived=True)["derived_loss_x2"].tolist() == [0.5]
