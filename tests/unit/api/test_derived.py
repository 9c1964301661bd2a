"""Derived metrics: references, computation, persistence."""

from __future__ import annotations

import logging

import pytest

from metalab.derived import (
    DerivedMetricFn,
    compute_and_store_derived,
    compute_derived_for_run,
    get_func_ref,
    import_derived_metric,
)
from metalab.result import Run
from metalab.types import Metric
from tests.unit.api.capture_store import MemoryStore, record

REF = "tests.unit.api.test_derived:doubled"


def doubled(run: Run) -> dict[str, Metric]:
    return {"doubled": run.metrics["value"] * 2}


def broken(run: Run) -> dict[str, Metric]:
    raise RuntimeError("no luck")


class Holder:
    @staticmethod
    def nested(run: Run) -> dict[str, Metric]:
        return {"nested": 1}


NOT_CALLABLE = 3


def test_references_round_trip() -> None:
    assert get_func_ref(doubled) == REF
    assert import_derived_metric(REF) is doubled
    ref = get_func_ref(Holder.nested)
    assert ref == "tests.unit.api.test_derived:Holder.nested"
    assert import_derived_metric(ref) is Holder.nested


@pytest.mark.parametrize(
    ("ref", "error"),
    [
        ("", ValueError),
        ("no.colon", ValueError),
        ("no_such_module_xyz:f", ImportError),
        ("tests.unit.api.test_derived:missing", AttributeError),
        ("tests.unit.api.test_derived:NOT_CALLABLE", TypeError),
    ],
)
def test_bad_references(ref: str, error: type[Exception]) -> None:
    with pytest.raises(error):
        import_derived_metric(ref)


def test_lambdas_and_local_functions_have_no_reference() -> None:
    def local(run: Run) -> dict[str, Metric]:
        return {}

    funcs: list[DerivedMetricFn] = [local, lambda run: {}]
    for func in funcs:
        with pytest.raises(ValueError, match="not lambdas or local functions"):
            get_func_ref(func)


def test_failures_are_logged_and_skipped(caplog: pytest.LogCaptureFixture) -> None:
    run = Run(record("r1", metrics={"value": 4}), MemoryStore())
    with caplog.at_level(logging.WARNING):
        out = compute_derived_for_run(run, [broken, doubled, lambda run: {"doubled": 0}])
    assert out == {"doubled": 0}
    assert "no luck" in caplog.text


def test_compute_and_store() -> None:
    store = MemoryStore()
    store.put_run_record(record("r1", metrics={"value": 4}))
    assert compute_and_store_derived("r1", store, [REF, "bad.module:x"]) == {"doubled": 8}
    assert store.get_derived("r1") == {"doubled": 8}
    assert compute_and_store_derived("missing", store, [REF]) == {}
    assert not store.derived_exists("missing")
