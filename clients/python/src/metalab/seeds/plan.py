"""SeedPlan: one SeedBundle per replicate, all sharing the plan's base seed."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from metalab.seeds.bundle import SeedBundle


class SeedPlan:
    """The seed bundles of an experiment's replicates.

    Replicate ``i`` gets ``SeedBundle(root_seed=base, replicate_index=i)``; the plan is
    iterable, sized and indexable (``0 <= i < replicates``).
    """

    def __init__(self, base: int, replicates: int = 1) -> None:
        self._base = base
        self._replicates = replicates

    @property
    def base_seed(self) -> int:
        """The base seed shared by all bundles."""
        return self._base

    @property
    def replicates(self) -> int:
        """The number of replicates."""
        return self._replicates

    def __len__(self) -> int:
        return self._replicates

    def __iter__(self) -> Iterator[SeedBundle]:
        return (SeedBundle(self._base, i) for i in range(self._replicates))

    def __getitem__(self, index: int) -> SeedBundle:
        if not 0 <= index < self._replicates:
            raise IndexError(f"Replicate index {index} out of range [0, {self._replicates})")
        return SeedBundle(self._base, index)

    def __repr__(self) -> str:
        return f"SeedPlan(base={self._base}, replicates={self._replicates})"

    def to_manifest_dict(self) -> dict[str, Any]:
        """Return ``{"type": "SeedPlan", "base": ..., "replicates": ...}``."""
        return {"type": "SeedPlan", "base": self._base, "replicates": self._replicates}

    @classmethod
    def from_manifest_dict(cls, manifest: dict[str, Any]) -> SeedPlan:
        """Rebuild a plan from :meth:`to_manifest_dict` output."""
        return cls(base=manifest["base"], replicates=manifest["replicates"])


def seeds(base: int, replicates: int = 1) -> SeedPlan:
    """Return a :class:`SeedPlan` of ``replicates`` bundles rooted at ``base``."""
    return SeedPlan(base=base, replicates=replicates)
