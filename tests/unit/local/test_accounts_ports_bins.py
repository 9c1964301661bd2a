"""Directory traversal rules, port checks and binary lookup (no processes)."""

from __future__ import annotations

import socket
import stat

import pytest

from metalab.errors import ProvisioningFailed
from metalab_orchestrator.runtime.accounts import Account, may_traverse
from metalab_orchestrator.runtime.pg_binaries import _debian_bindirs, find_pg_binaries
from metalab_orchestrator.runtime.ports import ensure_port_free, free_port

ALICE = Account("alice", uid=1000, gid=1000, groups=frozenset({1000, 50}))


@pytest.mark.parametrize(
    ("mode", "owner", "group", "expected"),
    [
        (0o700, 1000, 1000, True),  # own 0700 dir
        (0o700, 0, 0, False),  # root's 0700 dir
        (0o710, 0, 50, True),  # group search bit, alice in group 50
        (0o701, 0, 0, True),  # others may search
        (0o755, 1000, 0, True),
        (0o070, 1000, 50, False),  # owner bits win even when group bits allow
    ],
)
def test_may_traverse(mode, owner, group, expected):
    assert may_traverse(stat.S_IFDIR | mode, owner, group, ALICE) is expected


def test_free_port_is_bindable():
    port = free_port()
    ensure_port_free("127.0.0.1", port)


def test_busy_port_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ProvisioningFailed) as info:
            ensure_port_free("127.0.0.1", port, key="services.postgres.port")
    assert str(info.value) == (
        f"port {port} on 127.0.0.1 is already in use (services.postgres.port)"
    )


def test_metalab_pg_bin_pointing_nowhere_is_a_clear_error():
    with pytest.raises(ProvisioningFailed, match="METALAB_PG_BIN=/nonexistent does not contain"):
        find_pg_binaries({"METALAB_PG_BIN": "/nonexistent", "PATH": "/nonexistent"})


def test_no_binaries_anywhere_says_what_to_install(tmp_path):
    with pytest.raises(ProvisioningFailed, match="apt-get install postgresql"):
        find_pg_binaries({"PATH": str(tmp_path)}, debian_root=tmp_path)


def test_debian_bindirs_highest_version_first(tmp_path):
    for version in ("9.6", "15", "13"):
        (tmp_path / version / "bin").mkdir(parents=True)
    assert [p.parent.name for p in _debian_bindirs(tmp_path)] == ["15", "13", "9.6"]
