"""Parameter resolvers: validate or derive parameters before a run.

A resolver is either an object with ``resolve(context_meta, params_raw)`` or a plain
callable with the same two arguments; it returns the final parameter dict.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Protocol, cast

from metalab._ids import fingerprint_params
from metalab.params.source import ParamCase, ParamSource

ResolverFunc = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]


class ParamResolver(Protocol):
    """Turns raw parameters into resolved ones, optionally using context metadata."""

    def resolve(self, context_meta: dict[str, Any], params_raw: dict[str, Any]) -> dict[str, Any]:
        """Return the resolved parameters.

        Raises:
            ValueError: the parameters are invalid.
        """
        ...


class ResolvedSource:
    """A source whose cases are passed through a resolver, lazily, while iterating.

    Resolved cases keep their tags and get the fingerprint of the resolved params as id.
    """

    def __init__(
        self,
        source: ParamSource,
        resolver: ParamResolver | ResolverFunc,
        context_meta: dict[str, Any] | None = None,
    ) -> None:
        self._source = source
        self._resolver = resolver
        self._context_meta = context_meta or {}

    def _resolve(self, params: dict[str, Any]) -> dict[str, Any]:
        resolve = getattr(self._resolver, "resolve", None)
        if resolve is not None:
            resolved: dict[str, Any] = resolve(self._context_meta, params)
            return resolved
        return cast(ResolverFunc, self._resolver)(self._context_meta, params)

    def __iter__(self) -> Iterator[ParamCase]:
        for case in self._source:
            params = self._resolve(case.params)
            yield ParamCase(params=params, case_id=fingerprint_params(params), tags=case.tags)

    def __len__(self) -> int:
        """The underlying source's length (``TypeError`` if it has none)."""
        return len(self._source)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"ResolvedSource({self._source!r})"

    def with_context(self, context_meta: dict[str, Any]) -> ResolvedSource:
        """Return the same source and resolver with ``context_meta`` instead."""
        return ResolvedSource(self._source, self._resolver, context_meta)


def with_resolver(
    source: ParamSource,
    resolver: ParamResolver | ResolverFunc,
    context_meta: dict[str, Any] | None = None,
) -> ResolvedSource:
    """Wrap ``source`` so each case's params go through ``resolver(context_meta, params)``."""
    return ResolvedSource(source=source, resolver=resolver, context_meta=context_meta)
