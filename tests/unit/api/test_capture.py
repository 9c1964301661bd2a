"""Capture: metrics, stepped series, structured data, artifacts, files and logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from metalab.capture import Capture
from tests.unit.api.capture_store import DataStore, LogPathStore, MemoryStore


def make(store: MemoryStore, tmp_path: Path, **kwargs: Any) -> Capture:
    return Capture(store=store, run_id="run-0001abcd", artifact_dir=tmp_path / "scratch", **kwargs)


def test_scalar_metrics_and_batches(tmp_path: Path) -> None:
    capture = make(MemoryStore(), tmp_path)
    capture.metric("accuracy", 0.9)
    capture.log_metrics({"loss": 0.1, "converged": True})
    capture.metric("accuracy", 0.95)
    assert capture.metrics == {"accuracy": 0.95, "loss": 0.1, "converged": True}
    assert capture.finalize()["metrics"] == capture.metrics


def test_stepped_metrics_become_sorted_series_at_finalize(tmp_path: Path) -> None:
    store = DataStore()
    capture = make(store, tmp_path)
    capture.log_metrics({"loss": 0.5, "acc": 0.7}, step=2)
    capture.metric("loss", 0.9, step=1)
    assert capture.metrics == {}
    assert capture.results == []

    summary = capture.finalize()

    assert [p["name"] for p in summary["stepped_metrics"]] == ["loss", "acc", "loss"]
    by_name = {entry["name"]: entry for entry in summary["results"]}
    assert by_name["loss"]["data"] == [(1, 0.9), (2, 0.5)]
    assert by_name["loss"]["shape"] == [2, 2]
    assert by_name["loss"]["metadata"] == {"type": "stepped_metric"}
    assert store.results["run-0001abcd"]["acc"]["data"] == [(2, 0.7)]


def test_data_keeps_array_dtype_and_shape(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    capture = make(MemoryStore(), tmp_path)
    capture.data("m", np.arange(6, dtype="int32").reshape(2, 3), metadata={"unit": "s"})
    capture.data("plain", {"a": [1, 2]})
    first, second = capture.results
    assert first == {
        "name": "m",
        "data": [[0, 1, 2], [3, 4, 5]],
        "dtype": "int32",
        "shape": [2, 3],
        "metadata": {"unit": "s"},
    }
    assert (second["dtype"], second["shape"], second["metadata"]) == (None, None, {})


def test_results_reach_only_stores_that_keep_them(tmp_path: Path) -> None:
    store = DataStore()
    capture = make(store, tmp_path)
    capture.data("scores", [1, 2, 3])
    assert store.results == {}
    capture.finalize()
    assert store.results["run-0001abcd"]["scores"]["data"] == [1, 2, 3]

    plain = make(MemoryStore(), tmp_path / "other")
    plain.data("scores", [1])
    assert plain.finalize()["results"][0]["data"] == [1]


def test_finalize_is_idempotent_and_context_manager_calls_it(tmp_path: Path) -> None:
    with make(MemoryStore(), tmp_path) as capture:
        capture.metric("x", 1)
        capture.metric("s", 1.0, step=0)
    assert capture.finalize() == capture.finalize()
    assert len(capture.results) == 1


def test_json_artifact_is_stored_with_descriptor(tmp_path: Path) -> None:
    store = MemoryStore()
    capture = make(store, tmp_path)
    descriptor = capture.artifact("summary", {"b": 1, "a": [1, 2]}, metadata={"note": "x"})

    assert (descriptor.kind, descriptor.format) == ("json", "json")
    assert descriptor.uri == "mem://run-0001abcd/summary"
    assert descriptor.metadata == {"_run_id": "run-0001abcd", "note": "x"}
    assert descriptor.content_hash is not None and len(descriptor.content_hash) == 16
    content = store.blobs[descriptor.uri]
    assert descriptor.size_bytes == len(content)
    assert json.loads(content) == {"a": [1, 2], "b": 1}
    assert capture.artifacts == [descriptor]


def test_numpy_artifacts_use_npz(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    capture = make(MemoryStore(), tmp_path)
    single = capture.artifact("arr", np.ones((2, 2)))
    several = capture.artifact("pair", {"x": np.zeros(3), "y": np.ones(1)})
    assert (single.kind, single.format) == ("numpy", "npz")
    assert several.kind == "numpy"


def test_pickle_is_opt_in(tmp_path: Path) -> None:
    capture = make(MemoryStore(), tmp_path)
    with pytest.raises(ValueError, match="allow_pickle=True"):
        capture.artifact("obj", {1, 2}, kind="pickle")
    with pytest.raises(ValueError, match="No serializer can handle object of type set"):
        capture.artifact("obj", {1, 2})
    with pytest.raises(ValueError, match="No serializer registered for kind: yaml"):
        capture.artifact("obj", [1], kind="yaml")

    allowed = make(MemoryStore(), tmp_path / "p", allow_pickle=True)
    assert allowed.artifact("obj", {1, 2}).kind == "pickle"
    assert allowed.artifact("explicit", [1], kind="pickle").format == "pkl"


def test_file_artifacts(tmp_path: Path) -> None:
    capture = make(MemoryStore(), tmp_path)
    with pytest.raises(FileNotFoundError):
        capture.file("missing", tmp_path / "nope.txt")
    (tmp_path / "report.html").write_text("<p>hi</p>")
    (tmp_path / "blob").write_bytes(b"\x00\x01")
    html = capture.file("report", tmp_path / "report.html")
    blob = capture.file("blob", str(tmp_path / "blob"), kind="raw")
    assert (html.kind, html.format, html.size_bytes) == ("file", "html", 9)
    assert (blob.kind, blob.format) == ("raw", "binary")


class FakeFigure:
    def __init__(self) -> None:
        self.saved: dict[str, Any] = {}

    def savefig(self, path: Path, **kwargs: Any) -> None:
        Path(path).write_bytes(b"PNG")
        self.saved = kwargs


def test_figure_is_an_image_file(tmp_path: Path) -> None:
    capture = make(MemoryStore(), tmp_path)
    fig = FakeFigure()
    descriptor = capture.figure("plot", fig, dpi=72, close=False)
    assert (descriptor.kind, descriptor.format) == ("image", "png")
    assert fig.saved == {"dpi": 72, "bbox_inches": "tight", "format": "png"}


def test_logs_stream_to_the_store_log_path(tmp_path: Path) -> None:
    store = LogPathStore(tmp_path)
    capture = make(store, tmp_path, worker_id="thread:1")
    capture.log("hello")
    capture.log("careful", level="warning")
    capture.log("ignored level name", level="nonsense")
    capture.subscribe_logger("some.library")
    logging.getLogger("some.library").info("from the library")
    capture.flush()

    path = store.get_log_path("run-0001abcd", "run")
    text = path.read_text()
    assert "[INFO   ] [metalab.run.run-0001.thread:1] hello" in text
    assert "[WARNING] [metalab.run.run-0001.thread:1] careful" in text
    assert "ignored level name" in text
    assert "[some.library] from the library" in text

    capture.finalize()
    logging.getLogger("some.library").info("after the run")
    assert "after the run" not in path.read_text()
    assert store.logs == {}


def test_logs_are_uploaded_to_stores_without_a_log_path(tmp_path: Path) -> None:
    store = MemoryStore()
    capture = make(store, tmp_path)
    capture.logger.error("boom")
    capture.finalize()
    assert "boom" in store.logs[("run-0001abcd", "run")]


def test_unsubscribe_stops_copying(tmp_path: Path) -> None:
    store = LogPathStore(tmp_path)
    capture = make(store, tmp_path)
    capture.subscribe_logger("lib.two", level=logging.WARNING)
    logging.getLogger("lib.two").warning("kept")
    capture.unsubscribe_logger("lib.two")
    logging.getLogger("lib.two").warning("dropped")
    capture.finalize()
    text = store.get_log_path("run-0001abcd", "run").read_text()
    assert "kept" in text and "dropped" not in text
