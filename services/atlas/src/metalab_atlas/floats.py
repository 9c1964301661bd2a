"""Which values of a run are floats a browser would show as integers.

JSON has one number type: a page that parses ``1.0`` gets the number ``1`` and cannot tell it
was a float. Atlas lists, per run, the fields whose value is such a float (``floats``), so the
page shows ``1.0`` where the store recorded a float.
"""

from __future__ import annotations

from typing import Any

SECTIONS = ("params", "metrics")


def integral_floats(run: dict[str, Any]) -> list[str]:
    """``params.NAME``/``metrics.NAME`` of every float value with no fractional part."""
    out: list[str] = []
    for section in SECTIONS:
        values = run.get(section)
        if not isinstance(values, dict):
            continue
        for key, value in values.items():
            if isinstance(value, float) and value.is_integer():
                out.append(f"{section}.{key}")
    return out


def marked(run: dict[str, Any]) -> dict[str, Any]:
    """``run`` with ``floats`` (the `integral_floats`, possibly empty)."""
    return {**run, "floats": integral_floats(run)}
