"""``sacct``: the argv that asks SLURM accounting for jobs' final states, and its parser."""

from __future__ import annotations

import re
from collections.abc import Sequence

SACCT_FIELDS = "JobID,State"
JOB_ID = re.compile(r"[0-9]{1,12}")


def sacct_argv(job_ids: Sequence[str]) -> list[str]:
    """``sacct`` of ``job_ids`` (numeric job ids: anything else raises ValueError), one line
    per job or array task, ``|``-separated, without the job steps."""
    if not job_ids or not all(JOB_ID.fullmatch(j) for j in job_ids):
        raise ValueError(f"sacct wants numeric job ids, not {list(job_ids)!r}")
    return ["sacct", "-n", "-X", "-P", "-o", SACCT_FIELDS, "-j", ",".join(job_ids)]


def parse_sacct(output: str) -> dict[str, str]:
    """Lines of `SACCT_FIELDS` to ``{job or array task id: state}``; a state's first word
    (``CANCELLED by 1000`` reads ``CANCELLED``), ``UNKNOWN`` where it is blank."""
    states: dict[str, str] = {}
    for line in output.splitlines():
        job, _, state = line.strip().partition("|")
        if job:
            states[job] = (state.split() or ["UNKNOWN"])[0]
    return states
