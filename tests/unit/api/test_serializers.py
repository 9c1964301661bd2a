"""The serializer registry and the built-in serializers; cheap imports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metalab.capture import SerializerRegistry
from metalab.capture.serializers import JSONSerializer, NumpySerializer
from metalab.capture.serializers.pickle_ import PickleSerializer


def test_default_kinds_and_order() -> None:
    assert SerializerRegistry().kinds == ["json", "numpy"]
    assert SerializerRegistry(allow_pickle=True).kinds == ["json", "numpy", "pickle"]


def test_find_picks_first_that_fits() -> None:
    np = pytest.importorskip("numpy")
    registry = SerializerRegistry()
    assert registry.find({"a": 1}).kind == "json"
    assert registry.find(np.zeros(2)).kind == "numpy"
    assert registry.find({"a": np.zeros(2)}).kind == "numpy"
    assert registry.get("pickle") is None


def test_registering_a_custom_serializer() -> None:
    class Upper(JSONSerializer):
        @property
        def kind(self) -> str:
            return "upper"

    registry = SerializerRegistry()
    registry.register(Upper())
    assert registry.find("x", kind="upper").kind == "upper"
    assert registry.kinds[-1] == "upper"


def test_round_trips(tmp_path: Path) -> None:
    np = pytest.importorskip("numpy")
    json_out = JSONSerializer().dump({"x": [1, 2]}, tmp_path / "a.b")
    assert json_out["path"].endswith("a.b.json")
    assert JSONSerializer().load(Path(json_out["path"])) == {"x": [1, 2]}

    numpy = NumpySerializer()
    single = numpy.dump(np.arange(4), tmp_path / "arr")
    assert single["shapes"] == {"arr": [4]}
    assert np.array_equal(numpy.load(Path(single["path"])), np.arange(4))
    several = numpy.dump({"u": np.ones(2), "v": np.zeros((1, 2))}, tmp_path / "uv")
    loaded = numpy.load(Path(several["path"]))
    assert sorted(loaded) == ["u", "v"] and loaded["v"].shape == (1, 2)

    pickled = PickleSerializer().dump({1, 2}, tmp_path / "s")
    assert pickled["format"] == "pkl"
    assert PickleSerializer().load(Path(pickled["path"])) == {1, 2}


def test_imports_stay_cheap() -> None:
    code = (
        "import sys\n"
        "import metalab.capture, metalab.result, metalab.derived, metalab.progress\n"
        "from metalab.capture import SerializerRegistry\n"
        "SerializerRegistry().find({'a': 1})\n"
        "heavy = [m for m in ('numpy', 'pandas', 'rich') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
