"""Fuzz bundle.json: whatever the bytes, reading is a bundle or one `BundleError`, and every
bundle the model accepts converts to the gRPC message (so no reader crashes after it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metalab.core.bundle.files import parse_bundle
from metalab.core.convert import to_dict, to_message
from metalab.errors import BundleError

PATH = Path("/fuzz/services/bundle.json")
EXAMPLES = settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)
SERVICE_KEYS = ["host", "port", "pid", "pgid", "start_time", "url", "log_path", "user", "x"]
service = st.dictionaries(st.sampled_from(SERVICE_KEYS), values, max_size=6)
services = st.dictionaries(
    st.sampled_from(["postgres", "atlas", "../x", "", "a b"]), service | values, max_size=3
)
TOP_KEYS = ["project", "environment", "state", "nonce", "store_locator", "job_id", "extra"]
bundles = st.fixed_dictionaries(
    {"schema_version": st.sampled_from([1, 1, 1, "1", 2, None, True])},
    optional={
        "services": services | values,
        "tunnel_targets": st.lists(
            st.dictionaries(st.sampled_from(["service", "host", "port"]), values), max_size=2
        )
        | values,
        **{key: st.sampled_from(["p", "e", "", "../..", "a/b"]) | values for key in TOP_KEYS},
    },
)


def check(raw: bytes) -> None:
    try:
        bundle = parse_bundle(PATH, raw)
    except BundleError as exc:
        assert "\n" not in str(exc)
        return
    message = to_message(bundle)  # must not raise for an accepted bundle
    to_dict(message)


@EXAMPLES
@given(bundles)
def test_structured_bundles_are_accepted_or_one_line(bundle: dict[str, Any]) -> None:
    check(json.dumps(bundle, allow_nan=True).encode())


@EXAMPLES
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_one_line(raw: bytes) -> None:
    check(raw)


@EXAMPLES
@given(st.integers(min_value=1, max_value=50_000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_one_line(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    check(('{"schema_version": 1, "x": ' + opener * depth + "0" + closer * depth + "}").encode())
