"""Template cache under concurrency, and detached processes with real signals."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from metalab_orchestrator.runtime.accounts import Account
from metalab_orchestrator.runtime.pg_binaries import find_pg_binaries
from metalab_orchestrator.runtime.pg_handle import PostgresSettings
from metalab_orchestrator.runtime.pg_template import ensure_template
from metalab_orchestrator.runtime.postgres import probe_postgres, start_postgres
from metalab_orchestrator.runtime.process import (
    is_alive,
    spawn_detached,
    terminate_group,
    wait_for,
)
from metalab_server.pidfd import group_members

CREATE_TEMPLATE = """
import sys
from pathlib import Path
from metalab_orchestrator.runtime.accounts import Account
from metalab_orchestrator.runtime.accounts import Account
from metalab_orchestrator.runtime.pg_binaries import find_pg_binaries
from metalab_orchestrator.runtime.pg_template import ensure_template
account = Account.named(sys.argv[2]) if sys.argv[2] else None
print(ensure_template(find_pg_binaries(), superuser="metalab", account=account,
                      root=Path(sys.argv[1])))
"""


@pytest.mark.postgres
def test_concurrent_template_creation_yields_one_sound_template(work, servers, run_as, monkeypatch):
    root = work / "templates"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATE_TEMPLATE, str(root), run_as or ""],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    paths = {out.strip() for out, _ in outputs}
    assert len(paths) == 1
    template = Path(paths.pop())
    leftovers = [p.name for p in root.iterdir() if p != template and p.suffix != ".lock"]
    assert leftovers == []
    controldata = subprocess.run(
        [str(find_pg_binaries().bindir / "pg_controldata"), str(template)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "Database cluster state:               shut down" in controldata
    monkeypatch.setenv("METALAB_PG_TEMPLATE_DIR", str(root))
    handle = start_postgres(
        PostgresSettings(run_as=run_as), data_dir=work / "pgdata", run_dir=work / "run"
    )
    servers.append(handle)
    assert probe_postgres(handle).healthy


@pytest.mark.postgres
@pytest.mark.root(reason="needs a cache run_as cannot enter")
def test_template_cache_run_as_cannot_enter_is_built_elsewhere(work, run_as):
    private = work / "private"
    private.mkdir(mode=0o700)
    template = ensure_template(
        find_pg_binaries(),
        superuser="metalab",
        account=Account.named(run_as or ""),
        root=private / "templates",
    )
    assert (template / "PG_VERSION").is_file()
    assert sorted(p.name for p in template.parent.iterdir() if p.suffix != ".lock") == [
        template.name
    ]


IGNORE_TERM = """
import os, signal, sys, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
if os.fork() == 0:          # a group member that also ignores SIGTERM
    time.sleep(600)
    sys.exit(0)
print("ready", flush=True)
time.sleep(600)
"""


def test_spawn_detached_session_log_and_stdin(tmp_path):
    log = tmp_path / "out.log"
    old = os.umask(0)
    try:
        record = spawn_detached(
            [sys.executable, "-c", "import os,sys; print(os.getsid(0), sys.stdin.read()=='')"],
            log_path=log,
            env={"PATH": "/usr/bin:/bin"},
            cwd=tmp_path,
        )
    finally:
        os.umask(old)
    assert record.pgid == record.pid
    assert wait_for(lambda: not is_alive(record), 10.0)
    assert log.read_text().split() == [str(record.pid), "True"]
    assert stat.S_IMODE(log.stat().st_mode) == 0o600


def test_terminate_group_escalates_to_sigkill(tmp_path):
    log = tmp_path / "out.log"
    record = spawn_detached(
        [sys.executable, "-c", IGNORE_TERM],
        log_path=log,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
    )
    assert wait_for(lambda: "ready" in log.read_text(), 10.0)
    assert len(group_members(record.pgid)) == 2
    grace = 0.3
    started = time.monotonic()
    terminate_group(record, grace=grace)
    assert time.monotonic() - started >= grace  # SIGTERM was ignored for the whole grace
    assert not is_alive(record)
    assert group_members(record.pgid) == []
    terminate_group(record, grace=grace)  # idempotent
