"""Whether the node a bundle's services ran on is still up, as SLURM sees it (``sinfo``).

``status`` asks only when something is wrong (the job is not running, or a service does not
answer), so a healthy status costs no extra call. A failed ``sinfo`` says nothing.
"""

from __future__ import annotations

from metalab.core.errors import SchedulerError
from metalab.core.slurm.commands import sinfo_node_argv

from .runner import CommandRunner

SINFO_FORMAT = "%T|%E"
# Base states (sinfo %T, lower case) of a node that takes and runs jobs.
UP_STATES = frozenset({"idle", "mixed", "allocated", "completing", "planned", "reserved"})


def describe_node(node: str, output: str) -> str | None:
    """A note when ``node`` (one line of ``%T|%E``) is down, drained or not responding."""
    line = output.strip().splitlines()[0] if output.strip() else ""
    if not line:
        return f"node {node} is unknown to SLURM"
    state, _, reason = line.partition("|")
    state, reason = state.strip().lower(), reason.strip()
    silent = state.endswith("*")  # the controller has not heard from its slurmd
    base = state.rstrip("*~#!%$@^-")  # power, reboot and reservation flags
    if base in UP_STATES and not silent:
        return None
    words = base.upper() + (", not responding" if silent else "")
    if reason and reason.lower() not in ("none", "(null)"):
        words += f": {reason}"
    return f"node {node} is {words}"


async def node_note(runner: CommandRunner, node: str) -> str | None:
    """``describe_node`` for ``node`` from a live ``sinfo``; None when it cannot be asked."""
    try:
        result = await runner.run(sinfo_node_argv(node, SINFO_FORMAT), check=False)
    except SchedulerError:
        return None
    if result.returncode != 0:
        return None
    return describe_node(node, result.stdout)
