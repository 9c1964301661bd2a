"""How `status` words the state of the node a bundle's services ran on."""

from __future__ import annotations

import pytest

from metalab_orchestrator.backends.slurm.nodes import describe_node


@pytest.mark.parametrize("line", ["idle|none", "mixed|none", "allocated|(null)", "idle$|none"])
def test_nodes_that_take_jobs_need_no_note(line: str) -> None:
    assert describe_node("node1", line + "\n") is None


@pytest.mark.parametrize(
    ("line", "note"),
    [
        ("down*|metalab fail 1", "node node1 is DOWN, not responding: metalab fail 1"),
        ("down|none", "node node1 is DOWN"),
        ("idle*|none", "node node1 is IDLE, not responding"),
        ("drained|maintenance", "node node1 is DRAINED: maintenance"),
        ("", "node node1 is unknown to SLURM"),
    ],
)
def test_nodes_that_are_down_or_silent_are_named(line: str, note: str) -> None:
    assert describe_node("node1", line) == note
