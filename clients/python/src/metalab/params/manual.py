"""ManualSource: an explicit list of parameter dicts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from metalab._ids import fingerprint_params
from metalab.params.source import ParamCase


class ManualSource:
    """Exactly the given cases, in order; case ``i`` is tagged ``tags + ["manual_<i>"]``."""

    def __init__(self, cases: list[dict[str, Any]], tags: list[str] | None = None) -> None:
        self._cases = cases
        self._tags = tags or []

    def _case(self, position: int) -> ParamCase:
        params = self._cases[position]
        return ParamCase(
            params=params,
            case_id=fingerprint_params(params),
            tags=[*self._tags, f"manual_{position}"],
        )

    def __iter__(self) -> Iterator[ParamCase]:
        return (self._case(i) for i in range(len(self._cases)))

    def __len__(self) -> int:
        return len(self._cases)

    def __getitem__(self, index: int) -> ParamCase:
        """Return case ``index`` (negative indices count from the end)."""
        count = len(self._cases)
        if not -count <= index < count:
            raise IndexError(f"Index {index} out of range for ManualSource with {count} cases")
        return self._case(index % count)

    def __repr__(self) -> str:
        return f"ManualSource({len(self._cases)} cases)"

    def to_manifest_dict(self) -> dict[str, Any]:
        """Return ``{"type": "ManualSource", "cases", "tags", "total_cases"}``."""
        return {
            "type": "ManualSource",
            "cases": self._cases,
            "tags": self._tags,
            "total_cases": len(self._cases),
        }

    @classmethod
    def from_manifest_dict(cls, manifest: dict[str, Any]) -> ManualSource:
        """Rebuild the source from :meth:`to_manifest_dict` output."""
        return cls(cases=manifest["cases"], tags=manifest.get("tags"))


def manual(cases: list[dict[str, Any]], tags: list[str] | None = None) -> ManualSource:
    """Return a :class:`ManualSource` yielding ``cases`` in order, each tagged with ``tags``."""
    return ManualSource(cases=cases, tags=tags)
