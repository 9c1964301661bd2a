"""pg_hba / pg_ident content written at every start."""

from __future__ import annotations

from metalab_orchestrator.runtime.postgres import _hba, _ident


def test_hba_allows_peer_on_the_socket_and_the_method_on_loopback_only():
    rules = [line.split() for line in _hba("md5").splitlines() if not line.startswith("#")]
    assert rules == [
        ["local", "all", "all", "peer", "map=metalab"],
        ["host", "all", "all", "127.0.0.1/32", "md5"],
    ]


def test_ident_maps_each_os_user_once_to_the_database_user():
    rules = [line for line in _ident(["root", "pg", "root"], "metalab").splitlines()[1:]]
    assert rules == ['metalab "root" "metalab"', 'metalab "pg" "metalab"']
