"""Faceting: one small chart per value of a field (``facet=``), each over the runs that have
that value, on shared axes.

A facet is the request's query plus an ``eq`` filter on the facet field, so every store
answers it with the same code as any filtered request. At most `MAX_FACETS` values (in the
plot's order: numbers by value, then text) are drawn; ``facets_total`` says how many there
were. Runs without a value in the field are in no facet.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from metalab_atlas.evaluate import rank_key, text_of
from metalab_atlas.query import Field, Filter, RunQuery, as_number

MAX_FACETS = 12


def order(text: str) -> tuple[int, float, str]:
    """Facet values by number when their text is one (``4`` before ``16``), else by text."""
    number = as_number(text)
    return rank_key(number if number is not None else text)


def chosen(texts: Iterable[str | None]) -> tuple[list[str], int]:
    """(the first `MAX_FACETS` distinct values in order, how many there are)."""
    distinct = sorted({t for t in texts if t is not None}, key=order)
    return distinct[:MAX_FACETS], len(distinct)


def narrowed(query: RunQuery, facet: Field, text: str) -> RunQuery:
    """``query`` restricted to the runs whose ``facet`` is ``text``."""
    return dataclasses.replace(query, filters=(*query.filters, Filter(facet, "eq", text)))


def row_text(row: dict[str, Any], facet: Field) -> str | None:
    """A run row's value of ``facet`` as facet text (None: no value)."""
    if facet.kind in ("params", "metrics"):
        value = (row.get(facet.kind) or {}).get(facet.key)
    else:
        value = row.get(facet.key)
    return None if value is None else text_of(value)
