"""Seeds: derived seeds and RNG streams equal upstream metalab's (golden values from it)."""

from __future__ import annotations

import hashlib
import random
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metalab.seeds import SeedBundle, SeedPlan, seeds


def test_derived_seeds_match_upstream() -> None:
    bundle = SeedBundle(42, 0)
    assert bundle.derive("default") == 2164880486899767195
    assert bundle.derive("sampling") == 16451810078227672686
    assert SeedBundle(42).derive("default") == 2164880486899767195
    assert SeedBundle(42, 3).derive("init") == 3364191527721013588
    assert SeedBundle(-17, 2).derive("x") == 15695940856336479788
    assert bundle.numpy_seed() == 852875163
    assert SeedBundle(42, 3).numpy_seed("init") == 3325071700
    assert SeedBundle.for_preprocessing(42) == SeedBundle(5875625451538769114, None)


def test_rng_streams_match_upstream() -> None:
    assert SeedBundle(42, 0).rng("sampling").random() == 0.5166958848875474
    assert SeedBundle(42, 1).rng().randint(0, 10**9) == 956290236


def test_numpy_streams_match_upstream() -> None:
    pytest.importorskip("numpy")
    generator = SeedBundle(42, 0).numpy("sampling")
    assert [float(x) for x in generator.random(3)] == [
        0.6093976298149166,
        0.9762000400660242,
        0.14707029203454713,
    ]
    assert int(SeedBundle(5, 2).numpy().integers(0, 10**9)) == 133463650


@given(st.integers(), st.text(max_size=12), st.none() | st.integers(min_value=0, max_value=99))
def test_derive_is_the_documented_sha256_prefix(root: int, name: str, rep: int | None) -> None:
    digest = hashlib.sha256(f"{root}:{name}:{rep or 0}".encode()).digest()
    bundle = SeedBundle(root, rep)
    assert bundle.derive(name) == int.from_bytes(digest[:8], "big")
    assert 0 <= bundle.numpy_seed(name) < 2**32
    assert bundle.rng(name).random() == random.Random(bundle.derive(name)).random()


def test_importing_seeds_does_not_import_numpy() -> None:
    code = "import sys, metalab.seeds; sys.exit('numpy' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


def test_bundle_dict_round_trip() -> None:
    bundle = SeedBundle(9, 4)
    assert bundle.to_dict() == {"root_seed": 9, "replicate_index": 4}
    assert SeedBundle.from_dict(bundle.to_dict()) == bundle
    assert SeedBundle.from_dict({"root_seed": 9}) == SeedBundle(9)


def test_plan_yields_one_bundle_per_replicate() -> None:
    plan = seeds(base=7, replicates=3)
    assert isinstance(plan, SeedPlan)
    assert (plan.base_seed, plan.replicates, len(plan)) == (7, 3, 3)
    assert list(plan) == [SeedBundle(7, 0), SeedBundle(7, 1), SeedBundle(7, 2)]
    assert plan[2] == SeedBundle(7, 2)
    assert repr(plan) == "SeedPlan(base=7, replicates=3)"
    assert list(seeds(base=1)) == [SeedBundle(1, 0)]


@pytest.mark.parametrize("index", [-1, 3])
def test_plan_index_out_of_range(index: int) -> None:
    with pytest.raises(IndexError, match=r"out of range \[0, 3\)"):
        seeds(base=7, replicates=3)[index]


def test_plan_manifest_round_trip() -> None:
    manifest = seeds(base=123, replicates=7).to_manifest_dict()
    assert manifest == {"type": "SeedPlan", "base": 123, "replicates": 7}
    assert list(SeedPlan.from_manifest_dict(manifest)) == list(seeds(base=123, replicates=7))
