"""A local PostgreSQL's file names and who may run its server (cheap: on the warm path)."""

from __future__ import annotations

from pathlib import Path

from metalab_orchestrator.runtime.process import Ownership

PASSWORD_NAME = "postgres.password"
PASSFILE_NAME = "postgres.pgpass"


def server_owner(data_dir: Path) -> Ownership:
    """Who a postmaster of ``data_dir`` may be: the ``postgres`` program, run by this account
    or by the data directory's owner (the ``run_as`` account; PostgreSQL itself insists that
    its data directory belongs to the account it runs as)."""
    try:
        uid = data_dir.stat().st_uid
    except OSError:
        return Ownership.mine(executables=("postgres",))
    return Ownership.mine(uid, executables=("postgres",))


def server_pid_file(data_dir: Path) -> Path:
    """The postmaster's record (pid and start time), written before it runs (a gated spawn):
    it names a server that has not yet written ``postmaster.pid``."""
    return data_dir.parent / "postgres.pid"
