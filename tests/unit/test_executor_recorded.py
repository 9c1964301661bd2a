"""Reading a recorded ``executor`` back from an untrusted record: known keys, bounded."""

from __future__ import annotations

from metalab.core.whereabouts import MAX_TEXT, checked, current, from_record
from metalab_atlas.upstream import essentials


def test_only_known_fields_of_plain_types_are_kept() -> None:
    hostile = {
        "host": "x" * (MAX_TEXT + 1),
        "pid": True,
        "pid_start": 1.5,
        "pid_ns": ["pid:[1]"],
        "slurm_job": "7_1",
        "extra": "y" * 10_000,
    }
    assert checked(hostile) == {
        "host": None,
        "pid": None,
        "pid_start": None,
        "pid_ns": None,
        "slurm_job": "7_1",
    }
    assert checked(current()) == current()
    assert checked("cn001") is None and checked(None) is None


def test_a_record_names_its_executor_at_top_level_or_in_provenance_extra() -> None:
    here = current()
    assert from_record({"provenance": {"extra": {"executor": here}}}) == here
    assert from_record({"executor": here, "provenance": {"extra": {"executor": 1}}}) == here
    provenances: list[object] = [None, [], {"extra": None}, {"extra": {"executor": "cn0:12"}}]
    for provenance in provenances:
        assert from_record({"provenance": provenance}) is None
    assert from_record([here]) is None


def test_an_upstream_record_carries_its_executor_to_atlas() -> None:
    here = current()
    record = {"params_resolved": {}, "metrics": {}, "status": "running"}
    found = essentials({**record, "provenance": {"extra": {"executor": here}}}, "a" * 16)
    assert found is not None and found["executor"] == here
    bare = essentials(record, "a" * 16)
    assert bare is not None and bare["executor"] is None
