"""Rounding of nested values so that two stores' float answers compare equal."""

from __future__ import annotations

from typing import Any


def rounded(value: Any) -> Any:
    """Floats to 9 significant digits: SQL and Python sum in different orders."""
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value
