"""GridSource: the Cartesian product of parameter values.

Keys are taken in sorted order and the product varies the last key fastest, so case ``i``
is the mixed-radix decoding of ``i`` over the value-list lengths.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from typing import Any

from metalab._ids import fingerprint_params
from metalab.params.source import ParamCase

_EMPTY_CASE_ID = "empty"


class GridSource:
    """All combinations of the given value lists (a grid with no keys has one empty case)."""

    def __init__(self, **kwargs: Sequence[Any]) -> None:
        self._params = kwargs
        self._keys = sorted(kwargs)

    @staticmethod
    def _case(params: dict[str, Any]) -> ParamCase:
        return ParamCase(params=params, case_id=fingerprint_params(params))

    def __iter__(self) -> Iterator[ParamCase]:
        if not self._keys:
            yield ParamCase(params={}, case_id=_EMPTY_CASE_ID)
            return
        columns = [self._params[key] for key in self._keys]
        for values in itertools.product(*columns):
            yield self._case(dict(zip(self._keys, values, strict=True)))

    def __len__(self) -> int:
        total = 1
        for values in self._params.values():
            total *= len(values)
        return total

    def __getitem__(self, index: int) -> ParamCase:
        """Return case ``index`` (negative indices count from the end) without iterating."""
        if not self._keys:
            if index == 0:
                return ParamCase(params={}, case_id=_EMPTY_CASE_ID)
            raise IndexError(f"Index {index} out of range for empty GridSource")
        total = len(self)
        position = index + total if index < 0 else index
        if not 0 <= position < total:
            raise IndexError(f"Index {position} out of range [0, {total})")
        params: dict[str, Any] = {}
        for key in reversed(self._keys):
            values = self._params[key]
            position, digit = divmod(position, len(values))
            params[key] = values[digit]
        return self._case({key: params[key] for key in self._keys})

    def __repr__(self) -> str:
        listed = ", ".join(f"{key}={self._params[key]}" for key in self._keys)
        return f"GridSource({listed})"

    def to_manifest_dict(self) -> dict[str, Any]:
        """Return ``{"type": "GridSource", "spec": {name: values}, "total_cases": n}``."""
        return {"type": "GridSource", "spec": dict(self._params), "total_cases": len(self)}

    @classmethod
    def from_manifest_dict(cls, manifest: dict[str, Any]) -> GridSource:
        """Rebuild a grid from :meth:`to_manifest_dict` output."""
        return cls(**manifest["spec"])


def grid(**kwargs: Sequence[Any]) -> GridSource:
    """Return a :class:`GridSource`: ``grid(lr=[0.01, 0.1], batch=[32, 64])`` has 4 cases."""
    return GridSource(**kwargs)
