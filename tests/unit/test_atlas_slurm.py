"""The SLURM badge's pure parts: which array task ran a run, the manifest read, the counts."""

from __future__ import annotations

import json
from pathlib import Path

from metalab_atlas import slurm

MANIFEST = {
    "executor_type": "slurm",
    "job_ids": ["101", "102"],
    "shards": [
        {"start_idx": 0, "end_idx": 4, "job_id": "101"},
        {"start_idx": 4, "end_idx": 6, "job_id": "102"},
    ],
    "chunk_size": 2,
    "run_ids": ["a", "b", "skip", "c", "d", "e", "f"],
    "skipped_run_ids": ["skip"],
}


def test_array_task_of_each_run() -> None:
    tasks = [slurm.manifest_task(MANIFEST, r) for r in ("a", "b", "c", "d", "e", "f")]
    assert tasks == ["101_0", "101_0", "101_1", "101_1", "102_0", "102_0"]
    assert slurm.manifest_task(MANIFEST, "skip") is None
    assert slurm.manifest_task({**MANIFEST, "chunk_size": 0}, "a") is None


def test_manifest_must_be_the_directorys_own_slurm_manifest(tmp_path: Path) -> None:
    (tmp_path / "exp").mkdir()
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(MANIFEST))
    (tmp_path / "exp" / "manifest.json").symlink_to(elsewhere)
    assert slurm.manifest(str(tmp_path / "exp")) is None
    (tmp_path / "exp" / "manifest.json").unlink()
    (tmp_path / "exp" / "manifest.json").write_text(json.dumps(MANIFEST))
    assert slurm.manifest(str(tmp_path / "exp")) == MANIFEST
    (tmp_path / "exp" / "manifest.json").write_text(json.dumps({**MANIFEST, "job_ids": [1]}))
    assert slurm.manifest(str(tmp_path / "exp")) is None


def test_states_count_only_the_experiments_jobs() -> None:
    queue = {"101_0": "RUNNING", "101_1": "PENDING", "1010_0": "RUNNING", "7": "RUNNING"}
    status = slurm.experiment_status(["101_0", "101_3"], "records", queue, {})
    assert status["jobs"] == ["101"] and status["states"] == {"PENDING": 1, "RUNNING": 1}
    assert status["queued"] == 2 and status["squeue"]
    unknown = slurm.experiment_status(["101"], "manifest", None, {})
    assert unknown["states"] == {} and not unknown["squeue"] and unknown["slurm"]
    assert slurm.run_status("101_1", queue) == {
        "job": "101_1",
        "state": "PENDING",
        "squeue": True,
        "final": None,
        "sacct": None,
    }


def test_final_states_once_the_jobs_left_the_queue() -> None:
    asked: list[tuple[str, ...]] = []

    def sacct(jobs: tuple[str, ...]) -> dict[str, str] | None:
        asked.append(jobs)
        return {"101_0": "COMPLETED", "101_1": "FAILED", "9_0": "COMPLETED"}

    accounting = slurm.Accounting(sacct, ttl=3600)
    status = slurm.experiment_status(["101_0", "101_1"], "records", {}, {}, accounting)
    assert status["finished"] == {"COMPLETED": 1, "FAILED": 1} and status["sacct"] is True
    assert slurm.run_status("101_1", {}, accounting) == {
        "job": "101_1",
        "state": None,
        "squeue": True,
        "final": "FAILED",
        "sacct": True,
    }
    queued = slurm.experiment_status(["101_0"], "records", {"101_2": "RUNNING"}, {}, accounting)
    assert queued["finished"] == {} and queued["sacct"] is None
    assert asked == [("101",)]  # one ask, cached: every state final


def test_accounting_off_reads_finished_without_a_state() -> None:
    asked: list[tuple[str, ...]] = []

    def disabled(jobs: tuple[str, ...]) -> dict[str, str] | None:
        asked.append(jobs)
        return None

    accounting = slurm.Accounting(disabled, ttl=3600)
    status = slurm.experiment_status(["5", "5_1"], "records", {}, {}, accounting)
    assert status["finished"] == {} and status["sacct"] is False
    run = slurm.run_status("5_1", {}, accounting)
    assert run is not None and run["final"] is None and run["sacct"] is False
    assert asked == [("5",)]
    assert slurm.Accounting(disabled).states(["x; rm -rf /", "../1"]) is None
    assert asked == [("5",)]  # nothing but numeric job ids reaches sacct
