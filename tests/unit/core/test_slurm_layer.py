"""The SLURM command layer (`metalab.core.slurm`): argv builders against a golden file, and
the parsers of scheduler output, hostile job names included."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from metalab.core.slurm.commands import (
    SCONTROL_CONFIG,
    parse_controller_hosts,
    q,
    sbatch_argv,
    scancel_argv,
    sinfo_node_argv,
    slurm_filename,
)
from metalab.core.slurm.sacct import parse_sacct, sacct_argv
from metalab.core.slurm.squeue import (
    GONE,
    JobInfo,
    job_ids_named_argv,
    own_job_fields,
    own_jobs_argv,
    parse_queue,
    parse_squeue,
    queue_argv,
    squeue_argv,
    unknown_job,
)

GOLDEN = Path(__file__).parent / "golden" / "slurm_argv.json"
HOSTILE = "x|y; rm -rf ~ `id` $(id)\n'\""


def all_argv() -> dict[str, list[str]]:
    """Every builder, with plain and hostile values (each argument stays one argv item)."""
    return {
        "sbatch, script on stdin": sbatch_argv(),
        "sbatch, array script": sbatch_argv(
            "/p/array-0001.sh", output_pattern="/p/logs/%A_%a.out", dependency="afterany:5"
        ),
        "sbatch, hostile path": sbatch_argv(f"/p/{HOSTILE}.sh", output_pattern=HOSTILE),
        "scancel": scancel_argv(["12", "13"]),
        "scontrol": list(SCONTROL_CONFIG),
        "sinfo": sinfo_node_argv("node2", "%T|%E"),
        "squeue, queued": squeue_argv(["3", "1", "2", "1"]),
        "squeue, all states": squeue_argv(["7"], all_states=True),
        "squeue, own jobs": own_jobs_argv(),
        "squeue, by name": job_ids_named_argv(f"metalab-{HOSTILE}"),
        "squeue, whole queue": queue_argv(),
        "sacct": sacct_argv(["101", "102"]),
    }


def test_argv_builders_match_the_golden_file() -> None:
    """To refresh after an intended change: METALAB_UPDATE_GOLDEN=1 pytest tests/unit/core."""
    built = all_argv()
    if os.environ.get("METALAB_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(json.dumps(built, indent=1) + "\n")
    assert built == json.loads(GOLDEN.read_text())


def test_quoting_keeps_a_value_one_shell_word() -> None:
    assert q(HOSTILE) == "'x|y; rm -rf ~ `id` $(id)\n'\"'\"'\"'"
    assert q(5) == "5"
    assert slurm_filename("/a%b/%j.out") == "/a%%b/%%j.out"


SAMPLE = """\
1234|PENDING|Priority||N/A
1235|RUNNING|None|cn001|2026-11-25T12:00:00
1236|COMPLETING|None|cn002|2026-11-25T12:00:00
1237|PREEMPTED|None||Unknown
1238|CANCELLED|None|cn003|2026-11-25T11:00:00
garbage line
1239|REQUEUED|BeginTime||N/A
"""


def test_parse_squeue() -> None:
    jobs = parse_squeue(SAMPLE)
    assert set(jobs) == {"1234", "1235", "1236", "1237", "1238", "1239"}
    assert jobs["1234"] == JobInfo("1234", "PENDING", "Priority", "", "")
    assert jobs["1234"].waiting and jobs["1234"].active
    running = jobs["1235"]
    assert running.running and running.node == "cn001" and running.reason == ""
    assert running.end_time.endswith("+00:00")
    assert jobs["1236"].active and not jobs["1236"].waiting
    assert jobs["1237"].active and jobs["1237"].waiting  # PREEMPTED is not final
    assert jobs["1239"].active and jobs["1239"].reason == "BeginTime"  # nor REQUEUED
    assert not jobs["1238"].active
    assert not JobInfo("9", GONE).active


@pytest.mark.parametrize(
    ("line", "fields"),
    [
        ("41|RUNNING|metalab-p-e-0123|/srv/jobs", ("41", "RUNNING", "metalab-p-e-0123")),
        # A name with "|" (and one that looks like a whole line) is taken whole, never split.
        ("42|PENDING|a|RUNNING|b|/srv/jobs", ("42", "PENDING", "a|RUNNING|b")),
        ("43|RUNNING|n|/srv/jobs|/srv/jobs", ("43", "RUNNING", "n|/srv/jobs")),
        ("44|COMPLETED|n|/srv/jobs", None),  # ended
        ("45|RUNNING|n|/elsewhere", None),  # another directory
        ("x|RUNNING|n|/srv/jobs", None),  # not a job id
        ("", None),
    ],
)
def test_own_job_fields_read_the_name_from_both_ends(
    line: str, fields: tuple[str, str, str] | None
) -> None:
    assert own_job_fields(line, "/srv/jobs") == fields


def test_controller_hosts_and_unknown_jobs() -> None:
    config = "SlurmctldHost[0]    = ctl1(10.0.0.1)\nSlurmctldHost[1] = ctl2\nOther = x\n"
    assert parse_controller_hosts(config) == ["10.0.0.1", "ctl2"]
    assert unknown_job("slurm_load_jobs error: Invalid job id specified\n")
    assert unknown_job("scancel: error: invalid job id 5")
    assert not unknown_job("Socket timed out on send/recv operation")


def test_parse_queue_and_sacct() -> None:
    assert parse_queue("41|RUNNING\n42_3|PENDING\n\n43|\n") == {
        "41": "RUNNING",
        "42_3": "PENDING",
        "43": "UNKNOWN",
    }
    sacct = "101_0|COMPLETED\n101_1|CANCELLED by 1000\n102|\n"
    assert parse_sacct(sacct) == {"101_0": "COMPLETED", "101_1": "CANCELLED", "102": "UNKNOWN"}


@pytest.mark.parametrize("jobs", [[], ["101", "1,2"], [HOSTILE], ["101_1"]])
def test_sacct_asks_only_for_numeric_job_ids(jobs: list[str]) -> None:
    with pytest.raises(ValueError, match="numeric job ids"):
        sacct_argv(jobs)
