"""``squeue``: the argv that asks it and the parsers of its answer.

Every format here ends in fields SLURM fills from a fixed vocabulary (ids, states, reasons,
node lists, times), so a line splits on ``|``. A listing that names jobs (`OWN_JOBS_FORMAT`)
keeps the name and the working directory, which may hold ``|``, for last: the caller checks
them from both ends against what it expects, and never splits them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

JOBS_FORMAT = "%i|%T|%r|%N|%e"
QUEUE_FORMAT = "%i|%T"
OWN_JOBS_FORMAT = "%i|%T|%j|%Z"  # name and directory may hold "|": see `own_job_fields`
# Not final: the job holds, or will again hold, what it runs.
ACTIVE = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "RUNNING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "RESIZING",
        "PREEMPTED",
        "SIGNALING",
        "STAGE_OUT",
        "RESV_DEL_HOLD",
        "STOPPED",
    }
)
WAITING = frozenset(
    {
        "PENDING",
        "CONFIGURING",
        "REQUEUED",
        "REQUEUE_FED",
        "REQUEUE_HOLD",
        "PREEMPTED",
        "SUSPENDED",
        "RESV_DEL_HOLD",
        "STOPPED",
    }
)
GONE = "GONE"  # the controller no longer knows the job
UNKNOWN_JOB = "invalid job id"  # in "Invalid job id specified" and its variants


@dataclass(frozen=True)
class JobInfo:
    """One line of `JOBS_FORMAT`: the job's state, pending reason, node and expected end."""

    job_id: str
    state: str
    reason: str = ""
    node: str = ""
    end_time: str = ""  # ISO 8601 in UTC, or ""

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def running(self) -> bool:
        return self.state == "RUNNING"

    @property
    def waiting(self) -> bool:
        return self.state in WAITING


def squeue_argv(job_ids: Iterable[str], *, all_states: bool = False) -> list[str]:
    """``squeue`` of ``job_ids`` in `JOBS_FORMAT`; ``all_states`` lists ended jobs too (for
    ``MinJobAge``), else only those still queued."""
    ids = ",".join(sorted(set(job_ids)))
    states = ["-t", "all"] if all_states else []
    return ["squeue", "-h", *states, "-j", ids, "-o", JOBS_FORMAT]


def queue_argv() -> list[str]:
    """``squeue`` of everything queued, one line per job and array task, in `QUEUE_FORMAT`."""
    return ["squeue", "-h", "-r", "-o", QUEUE_FORMAT]


def own_jobs_argv() -> list[str]:
    """``squeue`` of the caller's own jobs in `OWN_JOBS_FORMAT`."""
    return ["squeue", "--me", "-h", "-o", OWN_JOBS_FORMAT]


def job_ids_named_argv(name: str) -> list[str]:
    """``squeue`` of the ids of the jobs named exactly ``name`` (SLURM matches, not us)."""
    return ["squeue", "-h", "--name", name, "-o", "%i"]


def unknown_job(stderr: str) -> bool:
    """Whether a failed ``squeue`` or ``scancel`` said the job id is unknown (it ended and
    was purged)."""
    return UNKNOWN_JOB in stderr.lower()


def _end_time(value: str) -> str:
    """squeue prints local time without a zone (or N/A, Unknown)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return ""
    return parsed.astimezone().astimezone(UTC).isoformat(timespec="seconds")


def parse_squeue(output: str) -> dict[str, JobInfo]:
    """Lines of `JOBS_FORMAT` to JobInfo by job id; malformed lines are skipped."""
    jobs: dict[str, JobInfo] = {}
    for line in output.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 5 or not fields[0]:
            continue
        job_id, state, reason, node, end = (f.strip() for f in fields)
        state = state.split()[0].rstrip("+").upper() if state else "UNKNOWN"
        reason = "" if reason in ("None", "(null)") else reason
        jobs[job_id] = JobInfo(job_id, state, reason, node, _end_time(end))
    return jobs


def parse_queue(output: str) -> dict[str, str]:
    """Lines of `QUEUE_FORMAT` to ``{job or array task id: state}`` (``UNKNOWN`` where the
    state is blank)."""
    states: dict[str, str] = {}
    for line in output.splitlines():
        job, _, state = line.strip().partition("|")
        if job:
            states[job] = state.strip() or "UNKNOWN"
    return states


def own_job_fields(line: str, workdir: str) -> tuple[str, str, str] | None:
    """(job id, state, name) of one active job of `OWN_JOBS_FORMAT` running in ``workdir``;
    None for any other line. The name is what lies between the state and ``|workdir``."""
    job_id, _, rest = line.partition("|")
    state, _, rest = rest.partition("|")
    suffix = "|" + workdir
    if not job_id.isdigit() or state not in ACTIVE or not rest.endswith(suffix):
        return None
    return job_id, state, rest[: -len(suffix)]
