"""Endpoint files: only the current submission's report counts."""

from __future__ import annotations

from metalab_orchestrator.backends.slurm.endpoint import (
    AtlasJobSpec,
    Endpoint,
    JobSpec,
    PostgresJobSpec,
    parse_endpoint,
)


def test_other_nonce_is_ignored() -> None:
    stale = Endpoint("old", "1", "cn001", "ready", {"atlas": {"host": "cn001", "port": 1}})
    assert parse_endpoint(stale.to_json(), "new") is None
    assert parse_endpoint(stale.to_json(), "old") == stale


def test_garbage_and_unknown_states_are_ignored() -> None:
    assert parse_endpoint(b"{not json", "n") is None
    assert parse_endpoint(b'{"nonce": "n"}', "n") is None
    assert parse_endpoint(Endpoint("n", "1", "h", "starting").to_json(), "n") is None


def test_failed_report_is_kept() -> None:
    failed = Endpoint("n", "1", "h", "failed", error="boom", log_tail="last lines")
    parsed = parse_endpoint(failed.to_json(), "n")
    assert parsed is not None and parsed.error == "boom"


def test_job_spec_round_trip_has_no_secret() -> None:
    spec = JobSpec(
        "n",
        "/s/services",
        "/s",
        "/s/services/bundle.json",
        PostgresJobSpec(password_file="/s/services/slurm/pw"),
        AtlasJobSpec(port=None),
    )
    assert JobSpec.from_json(spec.to_json()) == spec
    assert spec.lease.parent == spec.data_dir.parent
