"""Search across the store (the page's ``/`` modal): experiments by id, name, operation or
tag, and runs by the runs table's own search (run id, status, host, error, params' JSON).

Bounded: at most `MAX_SEARCHED` experiments are searched for runs (the most recently active
first), at most ``limit`` (≤ `MAX_RESULTS`) experiments and runs answered.
"""

from __future__ import annotations

from typing import Any

from metalab_atlas.floats import integral_floats
from metalab_atlas.query import QueryError, RunQuery
from metalab_atlas.source import RunSource

MAX_SEARCHED = 50
MAX_RESULTS = 50
DEFAULT_RESULTS = 20
MAX_QUERY = 200


def _upstream_id(experiment: dict[str, Any]) -> str | None:
    spec_name, eid = experiment.get("name"), str(experiment["experiment_id"])
    if isinstance(spec_name, str) and eid.startswith(f"{spec_name}_"):
        return f"{spec_name}:{eid[len(spec_name) + 1 :]}"
    return None


def search(source: RunSource, text: str, limit: int) -> dict[str, Any]:
    """``{query, experiments: [...], runs: [...], searched, truncated}``."""
    q = text.strip()
    if not q or len(q) > MAX_QUERY:
        raise QueryError(f"q must be 1 to {MAX_QUERY} characters")
    if not 1 <= limit <= MAX_RESULTS:
        raise QueryError(f"limit must be between 1 and {MAX_RESULTS}")
    needle = q.lower()
    everything = source.experiments()
    experiments = []
    for e in everything:
        words = [e["experiment_id"], e.get("name"), e.get("operation"), _upstream_id(e)]
        words += [t for t in e.get("tags") or [] if isinstance(t, str)]
        if any(isinstance(w, str) and needle in w.lower() for w in words):
            experiments.append(
                {k: e.get(k) for k in ("experiment_id", "name", "operation", "runs", "counts")}
            )
    runs: list[dict[str, Any]] = []
    searched = everything[:MAX_SEARCHED]
    more = len(experiments) > limit or len(everything) > MAX_SEARCHED
    for e in searched:
        if len(runs) >= limit:
            more = True
            break
        total, rows = source.runs(e["experiment_id"], RunQuery(search=q, limit=limit - len(runs)))
        more = more or total > len(rows)
        runs.extend(
            {
                "experiment_id": e["experiment_id"],
                "experiment_name": e.get("name"),
                "run_id": r["run_id"],
                "status": r.get("status"),
                "params": r.get("params") or {},
                "floats": [f for f in integral_floats(r) if f.startswith("params.")],
            }
            for r in rows
        )
    return {
        "query": q,
        "experiments": experiments[:limit],
        "runs": runs[:limit],
        "searched": len(searched),
        "truncated": more,
    }
