"""Results and Run: tables, filters, exports, artifacts, data and derived metrics."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from metalab.capture import Capture
from metalab.result import ExperimentInfo, Results, Run
from metalab.types import Metric, Status
from tests.unit.api.capture_store import DataStore, MemoryStore, record


@pytest.fixture
def results() -> Results:
    store = DataStore()
    records = [
        record("a" * 12, metrics={"loss": 0.5, "gene": "KLF1"}, params={"lr": 0.1}, tags=["x"]),
        record("b" * 12, metrics={"loss": 0.2, "gene": "GATA1"}, params={"lr": 0.01}),
        record("c" * 12, status=Status.FAILED, metrics={"gene": "KLF1"}, duration_ms=300),
    ]
    for r in records:
        store.put_run_record(r)
    return Results(store, records)


def test_table_uses_plain_metric_names(results: Results) -> None:
    row = results.table()[0]
    assert row["status"] == "success"
    assert row["loss"] == 0.5 and "metrics.loss" not in row
    assert row["tags"] == "x" and results.table()[1]["tags"] == ""
    assert row["started_at"] == "2026-01-02T03:04:05"
    assert {"context_fingerprint", "params_fingerprint", "seed_fingerprint"} <= set(row)
    frame: Any = results.table(as_dataframe=True)
    assert list(frame["status"]) == ["success", "success", "failed"]


def test_collection_protocol(results: Results) -> None:
    assert len(results) == 3
    assert isinstance(results[0], Run) and results[-1].status is Status.FAILED
    assert isinstance(results[1:], Results) and len(results[1:]) == 2
    assert [run.run_id[0] for run in results] == ["a", "b", "c"]
    assert len(results.successful) == 2 and len(results.failed) == 1
    assert repr(results) == "Results(3 runs: success=2, failed=1)"
    assert repr(results[0]) == "Run(aaaaaaaa..., status=success)"


def test_filter(results: Results) -> None:
    assert len(results.filter(status="success")) == 2
    assert len(results.filter(gene="KLF1")) == 2
    assert len(results.filter(status=Status.SUCCESS).filter(gene="KLF1")) == 1
    assert len(results.filter(tags=["x"])) == 1
    assert len(results.filter(lr=0.1)) == 0  # filters look at metrics, not params
    with pytest.raises(ValueError):
        results.filter(status="nope")


def test_summary(results: Results) -> None:
    assert results.summary() == {
        "total_runs": 3,
        "by_status": {"success": 2, "failed": 1},
        "avg_duration_ms": 500 / 3,
        "min_duration_ms": 100,
        "max_duration_ms": 300,
    }
    assert Results(MemoryStore(), []).summary()["avg_duration_ms"] == 0


def test_to_dataframe_columns(results: Results) -> None:
    results.store.put_derived("a" * 12, {"final": 1.5})

    def ratio(run: Run) -> dict[str, Metric]:
        return {"ratio": run.params["lr"] * 10}

    frame = results.successful.to_dataframe(include_derived=True, derived_metrics=[ratio])
    assert list(frame.columns) == [
        "run_id",
        "experiment_id",
        "status",
        "duration_ms",
        "started_at",
        "finished_at",
        "param_lr",
        "loss",
        "gene",
        "derived_final",
        "ratio",
    ]
    assert frame["ratio"].tolist() == [1.0, 0.1]
    assert not results.store.derived_exists("b" * 12)

    bare = results.to_dataframe(include_params=False, include_metrics=False, include_record=False)
    assert len(bare) == 3 and list(bare.columns) == []


def test_failing_derived_column_warns(results: Results) -> None:
    def boom(run: Run) -> dict[str, Metric]:
        raise KeyError("x")

    with pytest.warns(UserWarning, match="Derived metric 'boom' failed"):
        frame = results.to_dataframe(derived_metrics=[boom])
    assert len(frame) == 3


def test_artifact_reducers(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    store = MemoryStore()
    with_artifact = record("r1", params={"t": 1.5})
    without = record("r2")
    for r in (with_artifact, without):
        store.put_run_record(r)
    with Capture(store, "r1", artifact_dir=tmp_path) as capture:
        capture.artifact("data", np.array([1.0, 2.0, 3.0]))
    results = Results(store, [with_artifact, without])

    def simple(arr: Any) -> dict[str, Any]:
        return {"mean": float(arr.mean())}

    def aware(arr: Any, run: Run) -> dict[str, Any]:
        return {"above": int((arr > run.params["t"]).sum())}

    frame = results.to_dataframe(artifact_reducers={"data": simple})
    assert frame["mean"].tolist()[0] == 2.0 and np.isnan(frame["mean"].tolist()[1])
    frame = results.to_dataframe(artifact_reducers={"data": aware})
    assert frame["above"].tolist()[0] == 2


def test_to_csv(results: Results, tmp_path: Path) -> None:
    pd = pytest.importorskip("pandas")
    into_dir = results.to_csv(tmp_path / "out")
    assert into_dir.parent == tmp_path / "out" and into_dir.name.startswith("results_")
    frame = pd.read_csv(into_dir)
    assert "loss" in frame.columns and "params_fingerprint" not in frame.columns

    named = results.to_csv(tmp_path / "r.csv", include_fingerprints=True)
    assert named == tmp_path / "r.csv" and "seed_fingerprint" in pd.read_csv(named).columns
    stamped = results.to_csv(tmp_path / "r.csv", timestamp=True)
    assert stamped.name.startswith("r_") and stamped.suffix == ".csv"


def test_compute_derived_skips_unless_overwrite(results: Results) -> None:
    store = results.store
    store.put_derived("a" * 12, {"old": 1})

    def loss_x2(run: Run) -> dict[str, Metric]:
        return {"x2": run.metrics["loss"] * 2}

    results.compute_derived([loss_x2])
    assert store.get_derived("a" * 12) == {"old": 1}
    assert store.get_derived("b" * 12) == {"x2": 0.4}
    assert store.get_derived("c" * 12) == {}  # its failure is logged, an empty dict stored
    results.compute_derived([loss_x2], overwrite=True)
    assert store.get_derived("a" * 12) == {"x2": 1.0}
    assert results[0].derived == {"x2": 1.0}


def test_run_artifacts_round_trip(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    store = MemoryStore()
    r = record("r1")
    store.put_run_record(r)
    with Capture(store, "r1", artifact_dir=tmp_path) as capture:
        capture.artifact("summary", {"k": [1, 2]})
        capture.artifact("arr", np.arange(3))
        (tmp_path / "notes.txt").write_text("hi")
        capture.file("notes", tmp_path / "notes.txt")
    run = Results(store, [r])[0]
    assert [d.name for d in run.artifacts()] == ["summary", "arr", "notes"]
    assert run.artifact("summary") == {"k": [1, 2]}
    assert np.array_equal(run.artifact("arr"), np.arange(3))
    assert run.artifact("notes") == b"hi"
    with pytest.raises(FileNotFoundError):
        run.artifact("nope")
    assert Results(store, [r]).load("r1", "summary") == {"k": [1, 2]}
    with pytest.raises(FileNotFoundError):
        Results(store, [r]).load("other", "summary")


def test_run_data(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    store = DataStore()
    r = record("r1")
    with Capture(store, "r1", artifact_dir=tmp_path) as capture:
        capture.data("m", np.eye(2, dtype="float32"))
        capture.data("d", {"a": 1})
        capture.metric("loss", 1.0, step=0)
    run = Run(r, store)
    matrix = run.data("m")
    assert matrix.dtype == np.float32 and matrix.shape == (2, 2)
    assert run.data("d") == {"a": 1}
    assert run.data("loss") == [(0, 1.0)]
    assert sorted(run.list_data()) == ["d", "loss", "m"]
    with pytest.raises(KeyError):
        run.data("nope")

    plain = Run(r, MemoryStore())
    assert plain.list_data() == []
    with pytest.raises(NotImplementedError):
        plain.data("m")


def test_run_wraps_records_and_runs() -> None:
    r = record("r1", metrics={"m": 1}, params={"p": 2}, tags=["t"])
    run = Run(r, MemoryStore())
    again = Run(run, MemoryStore())
    assert again.record is r
    assert (run.metrics, run.params, run.tags) == ({"m": 1}, {"p": 2}, ["t"])
    run.metrics["m"] = 5
    assert r.metrics == {"m": 1}
    assert run.error is None and run.duration_ms == 100
    assert run.derived == {}


def test_experiment_info() -> None:
    store = MemoryStore()
    run = Run(record("r1", experiment_id="sweep:2"), store)
    assert run.experiment == ExperimentInfo("sweep:2", name="sweep", version="2")
    store.manifests["sweep:2"] = {
        "experiment_id": "sweep:2",
        "name": "sweep",
        "version": "2",
        "metadata": {"labels": [1]},
    }
    fresh = Run(record("r1", experiment_id="sweep:2"), store)
    assert fresh.experiment.metadata == {"labels": [1]}
    assert ExperimentInfo.from_experiment_id("plain").version == ""


def test_display_plain(results: Results, capsys: pytest.CaptureFixture[str]) -> None:
    results.display(group_by=["gene"])
    out = capsys.readouterr().out
    assert "Total runs: 3" in out
    assert "gene=GATA1: 1/1 success" in out and "gene=KLF1: 1/2 success" in out


def test_from_store() -> None:
    store = MemoryStore()
    store.put_run_record(record("r1", experiment_id="e:1"))
    store.put_run_record(record("r2", experiment_id="e:2"))
    assert len(Results.from_store(store)) == 2
    assert [r.run_id for r in Results.from_store(store, experiment_id="e:2")] == ["r2"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Results.from_store(store).to_dataframe()
