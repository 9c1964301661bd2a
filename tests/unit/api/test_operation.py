"""Operations: injection by parameter name, names, refs and code hashes as upstream records them."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from metalab.operation import OperationWrapper, import_operation, operation

# Upstream metalab recorded code hashes 47c47e54d7919589 and 0445379e4283555e for these.
GOLDEN_MODULE = """\
from metalab.operation import operation


@operation
def estimate(params, seeds, capture):
    rng = seeds.numpy("sampling")
    capture.metric("x", float(rng.random()))


@operation(name="renamed")
def other(context, params):
    return None
"""


@pytest.fixture
def golden_ops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    (tmp_path / "golden_ops.py").write_text(GOLDEN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "golden_ops", raising=False)
    yield importlib.import_module("golden_ops")
    sys.modules.pop("golden_ops", None)


def test_recorded_identity_matches_upstream(golden_ops: ModuleType) -> None:
    assert (golden_ops.estimate.name, golden_ops.estimate.ref) == (
        "estimate",
        "golden_ops:estimate",
    )
    assert golden_ops.estimate.code_hash == "47c47e54d7919589"
    assert (golden_ops.other.name, golden_ops.other.ref) == ("renamed", "golden_ops:other")
    assert golden_ops.other.code_hash == "0445379e4283555e"
    assert import_operation("golden_ops:other") is golden_ops.other


def test_only_requested_inputs_are_passed() -> None:
    seen: dict[str, Any] = {}

    @operation
    def op(seeds: Any, params: dict[str, Any]) -> str:
        seen.update(seeds=seeds, params=params)
        return "done"

    assert op("ctx", {"a": 1}, "seeds", "rt", "cap") == "done"
    assert seen == {"seeds": "seeds", "params": {"a": 1}}
    assert op.run(context=1, params={}, seeds=2, runtime=3, capture=4) == "done"


def test_every_input_can_be_requested() -> None:
    @operation()
    def full(context: Any, params: Any, seeds: Any, runtime: Any, capture: Any) -> tuple[Any, ...]:
        return (context, params, seeds, runtime, capture)

    assert full(1, {}, 3, 4, 5) == (1, {}, 3, 4, 5)
    assert full.name == "full"


def test_unknown_parameters_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"Operation 'bad' has invalid parameter\(s\): \{'data'\}"):

        @operation(name="bad")
        def bad(params: Any, data: Any) -> None: ...


def test_wrapper_metadata() -> None:
    @operation(name="nice")
    def fn(capture: Any) -> None:
        """Docs."""

    assert isinstance(fn, OperationWrapper)
    assert repr(fn) == "Operation(nice)"
    assert fn.__doc__ == "Docs."
    assert fn.ref.endswith(":test_wrapper_metadata.<locals>.fn")
    assert len(fn.code_hash) == 16


def test_code_hash_is_empty_without_source() -> None:
    namespace: dict[str, Any] = {}
    exec("def gen(params):\n    return params\n", namespace)  # noqa: S102 - a function with no source file
    assert OperationWrapper(namespace["gen"]).code_hash == ""


def test_import_operation_refuses_plain_functions() -> None:
    with pytest.raises(TypeError, match="Expected OperationWrapper, got function"):
        import_operation("metalab.operation:import_operation")
