"""Context specs: decorator, typed JSON form and fingerprints equal upstream metalab's."""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from metalab._canonical import fingerprint
from metalab._ids import DirPath, FilePath
from metalab.context import ContextSpec, context_spec
from metalab.context.spec import deserialize_context_spec, serialize_context_spec

# The same module upstream metalab fingerprinted for the golden values below.
GOLDEN_MODULE = """\
from metalab._ids import FilePath
from metalab.context import context_spec


@context_spec
class DataSpec:
    data: FilePath
    name: str = "train"
    scale: float = 0.5
    tags: tuple = ("a", "b")
"""


@pytest.fixture
def golden_ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    (tmp_path / "golden_ctx.py").write_text(GOLDEN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "golden_ctx", raising=False)
    yield importlib.import_module("golden_ctx")
    sys.modules.pop("golden_ctx", None)


def test_spec_fingerprints_and_json_match_upstream(golden_ctx: ModuleType) -> None:
    spec = golden_ctx.DataSpec(data=FilePath("/data/x.csv"))
    assert spec.fingerprint == "a4150956693b3469"
    assert fingerprint(spec) == "8ac48a1981875409"
    assert serialize_context_spec(spec) == {
        "__type__": "golden_ctx.DataSpec",
        "data": {"__type__": "metalab._ids.FilePath", "path": "/data/x.csv", "hash_path": False},
        "name": "train",
        "scale": 0.5,
        "tags": ["a", "b"],
    }


def test_round_trip_through_json_rebuilds_types(golden_ctx: ModuleType) -> None:
    spec = golden_ctx.DataSpec(data=FilePath("/d.csv"), tags=["x"])
    payload = {"spec": spec, "dirs": [DirPath("/raw", pattern="*.gz")], "n": None}
    back = deserialize_context_spec(json.loads(json.dumps(serialize_context_spec(payload))))
    assert back == payload
    assert back["spec"].fingerprint == spec.fingerprint


def test_unimportable_types_fall_back_to_dicts(caplog: pytest.LogCaptureFixture) -> None:
    data = {
        "__type__": "no_such_module_xyz.Spec",
        "path": {"__type__": "metalab._ids.FilePath", "path": "p"},
    }
    with caplog.at_level(logging.WARNING, logger="metalab.context.spec"):
        assert deserialize_context_spec(data) == {"path": FilePath("p")}
    assert "Could not reconstruct type no_such_module_xyz.Spec" in caplog.text


def test_other_values_serialize_as_text() -> None:
    assert serialize_context_spec({"p": Path("/a"), "t": (1, 2.5, True)}) == {
        "p": "/a",
        "t": [1, 2.5, True],
    }


def test_decorator_forms() -> None:
    @context_spec
    class Frozen:
        a: int
        b: list[int] = dataclasses.field(default_factory=list)

    @context_spec(frozen=False)
    class Mutable:
        a: int

    frozen = Frozen(1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        frozen.a = 2  # type: ignore[misc]
    mutable = Mutable(1)
    before = mutable.fingerprint  # type: ignore[attr-defined]
    mutable.a = 2
    assert mutable.fingerprint != before  # type: ignore[attr-defined]
    assert frozen.fingerprint == Frozen(1).fingerprint  # type: ignore[attr-defined]
    assert len(frozen.fingerprint) == 16  # type: ignore[attr-defined]
    assert isinstance(frozen, ContextSpec)


def test_existing_dataclasses_keep_their_settings() -> None:
    @context_spec
    @dataclasses.dataclass
    class Plain:
        a: Any

    spec = Plain(1)
    spec.a = 2  # type: ignore[misc]  # typed as frozen, but the class keeps its own settings
    assert spec.fingerprint == Plain(2).fingerprint  # type: ignore[attr-defined]
