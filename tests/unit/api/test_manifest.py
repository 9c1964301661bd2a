"""Experiment manifests and their param/seed round trips."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from metalab.experiment import Experiment
from metalab.manifest import (
    build_experiment_manifest,
    deserialize_param_source,
    deserialize_seed_plan,
    operation_ref,
    serialize,
)
from metalab.operation import operation
from metalab.params import grid, manual
from metalab.seeds import seeds
from tests.unit.api import ops


def test_build_manifest() -> None:
    exp = Experiment(
        name="m",
        version="2",
        context={},
        operation=ops.double,
        params=grid(x=[1, 2]),
        seeds=seeds(base=1, replicates=3),
        description="d",
        tags=["t"],
        metadata={"k": "v"},
    )
    manifest = build_experiment_manifest(exp, "ctxfp", 6, ["a"])
    assert manifest["experiment_id"] == "m:2"
    assert manifest["operation"] == {
        "ref": "tests.unit.api.ops:double",
        "name": "double",
        "code_hash": ops.double.code_hash,
    }
    assert manifest["params"] == {"type": "GridSource", "spec": {"x": [1, 2]}, "total_cases": 2}
    assert manifest["seeds"] == {"type": "SeedPlan", "base": 1, "replicates": 3}
    assert (manifest["context_fingerprint"], manifest["total_runs"]) == ("ctxfp", 6)
    assert (manifest["run_ids"], manifest["metadata"]) == (["a"], {"k": "v"})
    assert repr(exp).startswith("Experiment(name='m', version='2', description='d'")


def test_serialize_falls_back_to_type_and_repr() -> None:
    class Custom:
        def __len__(self) -> int:
            return 4

        def __repr__(self) -> str:
            return "Custom()"

    assert serialize(Custom()) == {"type": "Custom", "repr": "Custom()", "total_cases": 4}
    assert serialize(3) == {"type": "int", "repr": "3"}


def test_param_sources_and_seed_plans_round_trip() -> None:
    for source in (grid(a=[1, 2], b=["x"]), manual([{"a": 1}, {"a": 5}])):
        rebuilt = deserialize_param_source(serialize(source))
        assert [c.params for c in rebuilt] == [c.params for c in source]
    plan = seeds(base=9, replicates=2)
    assert [b.root_seed for b in deserialize_seed_plan(serialize(plan))] == [
        b.root_seed for b in plan
    ]


def test_unknown_manifests_are_rejected() -> None:
    with pytest.raises(ValueError, match="Unknown or unsupported ParamSource type: Nope"):
        deserialize_param_source({"type": "Nope"})
    with pytest.raises(ValueError, match="Expected SeedPlan manifest, got: GridSource"):
        deserialize_seed_plan({"type": "GridSource"})


def test_operations_of_the_running_script_are_named_after_its_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = types.ModuleType("__mp_main__")
    script.__file__ = "/somewhere/train.py"
    monkeypatch.setitem(sys.modules, "__mp_main__", script)

    def train(params: dict[str, Any]) -> None: ...

    train.__module__ = "__mp_main__"
    train.__qualname__ = "train"
    assert operation_ref(operation(train)) == "train.py:train"
    assert operation_ref(ops.double) == "tests.unit.api.ops:double"
