"""Canonical JSON and fingerprints: fixed rules, and byte equality with upstream metalab.

The golden values were produced by upstream metalab (matthewmazurek/metalab) itself.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metalab._canonical import CanonicalizeError, canonical, fingerprint


@dataclass
class _Point:
    x: int
    y: float


class _Plain:
    def __init__(self) -> None:
        self.b = [1, 2]
        self.a = "x"


GOLDEN = {
    "dict": ({"b": 1, "a": 2}, '{"a":2,"b":1}', "d3626ac30a87e6f7"),
    "empty_dict": ({}, "{}", "44136fa355b3678a"),
    "empty_list": ([], "[]", "4f53cda18c2baa0c"),
    "empty_str": ("", '""', "12ae32cb1ec02d01"),
    "floats": (
        {"a": 0.1, "b": 1e-300, "c": -0.0, "d": 1.0, "e": 123456789.123456789, "f": 2.5e20},
        '{"a":"0.1","b":"1e-300","c":"-0.0","d":"1.0","e":"123456789.12345679","f":"2.5e+20"}',
        "441ef1190475961b",
    ),
    "mixed": (
        {
            "s": "h\u00e9llo \u2713",
            "n": None,
            "t": True,
            "f": False,
            "big": 2**70,
            "neg": -5,
            "tup": (1, "2", 3.0),
            "set": {3, 1, 2},
            "bytes": b"\x00\xff",
            "nested": {"z": [1, {"y": 2}]},
            "intkeys": {10: "ten", 2: "two"},
        },
        '{"big":1180591620717411303424,"bytes":{"__bytes__":"00ff"},"f":false,'
        '"intkeys":{"10":"ten","2":"two"},"n":null,"neg":-5,"nested":{"z":[1,{"y":2}]},'
        '"s":"h\\u00e9llo \\u2713","set":[1,2,3],"t":true,"tup":[1,"2","3.0"]}',
        "7fd9c3b7bfcafbe0",
    ),
    "dataclass": (_Point(1, 2.5), '{"x":1,"y":"2.5"}', "544ef163b695e249"),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_matches_upstream_bytes(name: str) -> None:
    value, text, digest = GOLDEN[name]
    assert canonical(value) == text
    assert fingerprint(value) == digest


def test_objects_encode_as_their_attributes() -> None:
    assert canonical(_Plain()) == '{"a":"x","b":[1,2]}'


@pytest.mark.parametrize(
    ("value", "message"),
    [(math.nan, "NaN"), (math.inf, "Inf"), (-math.inf, "Inf"), ({"k": [math.nan]}, "NaN")],
)
def test_non_finite_floats_are_refused(value: object, message: str) -> None:
    with pytest.raises(CanonicalizeError, match=message):
        canonical(value)


def test_types_without_a_canonical_form_are_refused() -> None:
    with pytest.raises(CanonicalizeError, match="Cannot canonicalize type: complex"):
        fingerprint({"z": 1j})


def test_float_text_keeps_full_precision() -> None:
    assert canonical(1.0000000000000002) != canonical(1.0)
    assert canonical(0.1 + 0.2) == '"0.30000000000000004"'


json_leaves = st.none() | st.booleans() | st.integers() | st.text(max_size=8)
finite = st.floats(allow_nan=False, allow_infinity=False)
values = st.recursive(
    json_leaves | finite | st.binary(max_size=4),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=4), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(st.dictionaries(st.text(max_size=5), values, max_size=6))
def test_key_order_never_matters(mapping: dict[str, object]) -> None:
    reordered = dict(reversed(list(mapping.items())))
    assert canonical(reordered) == canonical(mapping)
    assert fingerprint(reordered) == fingerprint(mapping)


@given(values)
def test_output_is_compact_json_and_fingerprint_is_16_hex(value: object) -> None:
    text = canonical(value)
    assert json.dumps(json.loads(text), sort_keys=True, separators=(",", ":")) == text
    digest = fingerprint(value)
    assert len(digest) == 16
    assert set(digest) <= set("0123456789abcdef")


@given(finite)
def test_floats_round_trip_through_their_text(value: float) -> None:
    assert float(json.loads(canonical(value))) == value


@given(st.sets(st.integers(), max_size=8))
def test_sets_are_sorted_lists(members: set[int]) -> None:
    assert canonical(members) == canonical(sorted(members))
    assert canonical(frozenset(members)) == canonical(sorted(members))
