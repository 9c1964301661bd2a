"""Runs side by side: which values differ, and by how much from a baseline run."""

from __future__ import annotations

import json
from typing import Any

from metalab_atlas.histogram import is_number

SECTIONS = ("params", "metrics")
CORE = ("status", "attempt", "seed", "host", "duration_s", "error")
NUMERIC_CORE = ("duration_s",)


def _section(record: dict[str, Any], section: str) -> dict[str, Any]:
    found = record.get(section)
    return found if isinstance(found, dict) else {}


def differences(records: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per section (``core``, ``params``, ``metrics``), the keys whose values differ."""
    out: dict[str, list[str]] = {}
    for section in SECTIONS:
        keys = sorted({k for r in records for k in _section(r, section)})
        out[section] = [
            k for k in keys if len({json.dumps(_section(r, section).get(k)) for r in records}) > 1
        ]
    out["core"] = [k for k in CORE if len({json.dumps(r.get(k)) for r in records}) > 1]
    return out


def _delta(value: Any, base: Any) -> float | None:
    if is_number(value) and is_number(base):
        return float(value) - float(base)
    return None


def deltas(records: list[dict[str, Any]], baseline: int) -> dict[str, dict[str, list[Any]]]:
    """Per section and key, each run's value minus the baseline run's (None where either
    is not a finite number), for the keys whose values differ."""
    base = records[baseline]
    changed = differences(records)
    out: dict[str, dict[str, list[Any]]] = {}
    for section in SECTIONS:
        out[section] = {
            k: [
                _delta(_section(r, section).get(k), _section(base, section).get(k)) for r in records
            ]
            for k in changed[section]
        }
    out["core"] = {
        k: [_delta(r.get(k), base.get(k)) for r in records]
        for k in NUMERIC_CORE
        if k in changed["core"]
    }
    return out
