"""Experiment directories in upstream metalab's FileStore layout, written by our own code:
the files upstream's FileStore writes (``_meta.json``, ``runs/{run_id}.json``,
``derived/{run_id}.json``, ``logs/…``, ``experiments/…``), replaced by a rename as upstream
does (a temporary ``{stem}.tmp.{hex}`` beside the target)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any


def upstream_run_id(i: int) -> str:
    return f"{i:016x}"


def write_json(path: Path, data: Any) -> None:
    """Pretty, sorted JSON (upstream's format), written beside and renamed over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(f".tmp.{uuid.uuid4().hex[:8]}")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True))
    os.rename(temporary, path)


def record(
    experiment_id: str,
    run_id: str,
    params: dict[str, Any],
    metrics: dict[str, Any],
    status: str = "success",
    *,
    error: str | None = None,
    duration_ms: int = 1500,
    host: str | None = None,
) -> dict[str, Any]:
    """A run record as upstream's ``dump_run_record`` writes it."""
    kind, _, message = (error or "").partition(": ")
    return {
        "_schema_version": "0.1",
        "artifacts": [],
        "context_fingerprint": "44136fa355b3678a",
        "duration_ms": duration_ms,
        "error": {"message": message, "traceback": f"Traceback\n{error}\n", "type": kind}
        if error
        else None,
        "experiment_id": experiment_id,
        "finished_at": "2026-12-05T10:00:01.500000",
        "metrics": metrics,
        "notes": None,
        "params_fingerprint": run_id[::-1],
        "params_resolved": params,
        "provenance": {
            "code_hash": "7b9589b2339de2e7",
            "executor_id": "process",
            "extra": {},
            "host": host,
            "metalab_version": None,
            "python_version": None,
        },
        "run_id": run_id,
        "seed_fingerprint": "bc84d675ff188232",
        "started_at": "2026-12-05T10:00:00.000000",
        "status": status,
        "tags": [],
        "warnings": [],
    }


def experiment_dir(root: Path, experiment_id: str) -> Path:
    return root / experiment_id.replace(":", "_")


def write_experiment(
    root: Path, experiment_id: str, total_runs: int, timestamp: str = "20261205_100000"
) -> Path:
    """``_meta.json`` and one manifest; returns the experiment directory."""
    base = experiment_dir(root, experiment_id)
    write_json(
        base / "_meta.json",
        {"created_by": "metalab", "experiment_id": experiment_id, "schema_version": "0.1"},
    )
    name, _, version = experiment_id.partition(":")
    write_manifest(base, experiment_id, timestamp, name=name, version=version, total=total_runs)
    for directory in ("runs", "derived", "artifacts", "logs", "results", ".locks"):
        (base / directory).mkdir(exist_ok=True)
    return base


def write_manifest(
    base: Path, experiment_id: str, timestamp: str, *, name: str, version: str, total: int
) -> Path:
    path = base / "experiments" / f"{base.name}_{timestamp}.json"
    write_json(
        path,
        {
            "context_fingerprint": "44136fa355b3678a",
            "description": f"{name} in upstream's layout",
            "experiment_id": experiment_id,
            "metadata": {},
            "name": name,
            "operation": {"code_hash": "7b9589b2339de2e7", "name": "train", "ref": "bench:train"},
            "params": {"spec": {}, "total_cases": total, "type": "GridSource"},
            "run_ids": None,
            "seeds": {"base": 7, "replicates": 1, "type": "SeedPlan"},
            "submitted_at": f"{timestamp[:4]}-{timestamp[4:6]}-{timestamp[6:8]}T10:00:00",
            "tags": [],
            "total_runs": total,
            "version": version,
        },
    )
    return path


def write_run(base: Path, data: dict[str, Any]) -> Path:
    path = base / "runs" / f"{data['run_id']}.json"
    write_json(path, data)
    return path


def write_derived(base: Path, run_id: str, metrics: dict[str, Any]) -> Path:
    path = base / "derived" / f"{run_id}.json"
    write_json(path, metrics)
    return path
