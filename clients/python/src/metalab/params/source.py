"""The parameter-source protocol and the parameter case it yields."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class ParamCase:
    """One parameter configuration.

    Attributes:
        params: the parameter values.
        case_id: stable id of the case (the fingerprint of ``params``; ``"empty"`` for the
            single case of an empty grid).
        tags: labels for filtering and grouping.
    """

    params: dict[str, Any]
    case_id: str
    tags: list[str] = field(default_factory=list)


class ParamSource(Protocol):
    """Anything that yields :class:`ParamCase` values when iterated.

    Built-in sources (grid, random, manual) are also sized and indexable, which lets
    executors address case ``i`` without enumerating the others.
    """

    def __iter__(self) -> Iterator[ParamCase]: ...
