"""Run records for tests that write a store directly (no `metalab.run`)."""

from __future__ import annotations

from metalab.types import Provenance, RunRecord


def success_record(experiment_id: str, i: int, host: str = "h") -> RunRecord:
    """Run ``run-{i}`` of ``experiment_id``: succeeded, param and metric ``i``."""
    return RunRecord.success(
        run_id=f"run-{i}",
        experiment_id=experiment_id,
        context_fingerprint="c",
        params_fingerprint=f"p{i}",
        seed_fingerprint="s",
        metrics={"i": i},
        params_resolved={"i": i},
        provenance=Provenance(host=host),
    )
