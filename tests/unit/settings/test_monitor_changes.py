"""`metalab monitor`'s pure parts: a status snapshot and the changes between two."""

from __future__ import annotations

import json
from typing import Any

from metalab._cli.monitor import changes, snapshot

UP: dict[str, Any] = {
    "found": True,
    "healthy": True,
    "job_state": None,
    "services": [
        {
            "name": "postgres",
            "host": "n1",
            "port": 5,
            "healthy": True,
            "state": "running",
            "detail": "",
            "url": "",
        }
    ],
}


def test_first_snapshot_prints_everything_then_only_changes():
    first = snapshot(0, json.dumps(UP), "")
    assert changes(None, first) == ["service postgres: healthy running n1:5"]
    assert changes(first, snapshot(0, json.dumps(UP), "")) == []
    down = dict(
        UP,
        healthy=False,
        services=[dict(UP["services"][0], healthy=False, state="exited", detail="boom")],
    )
    assert changes(first, snapshot(1, json.dumps(down), "")) == [
        "service postgres: unhealthy exited n1:5 — boom"
    ]


def test_not_running_unreachable_and_gone():
    none = snapshot(1, json.dumps({"found": False, "services": []}), "")
    assert none == {"services": "not running"}
    bad = snapshot(255, "", "ssh: connect to host x port 22: Connection refused\n")
    assert bad == {"remote": "unavailable: ssh: connect to host x port 22: Connection refused"}
    assert changes(bad, none) == ["services: not running", "remote: gone"]
    assert snapshot(2, "noise\n", "") == {"remote": "unavailable: exit 2, no status"}
