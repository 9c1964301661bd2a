"""Control-socket directories a killed tunnel process left are swept; live ones stay."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from metalab_tunnel import workdirs


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_sweep_removes_only_abandoned_directories(tmp_path: Path) -> None:
    dead = _dead_pid()
    abandoned = tmp_path / f"metalab-ssh-{dead}-abc"
    (abandoned / "stale.sock").parent.mkdir()
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(abandoned / "stale.sock"))  # bound, never listening: a dead master's
    mine = tmp_path / f"metalab-ssh-{os.getpid()}-def"
    mine.mkdir()
    alive_parent = tmp_path / f"metalab-ssh-{os.getppid()}-ghi"
    alive_parent.mkdir()
    served = tmp_path / f"metalab-ssh-{dead}-jkl"
    served.mkdir()
    other = tmp_path / "metalab-ssh-notapid"
    other.mkdir()
    with socket.socket(socket.AF_UNIX) as master:
        master.bind(str(served / "m"))
        master.listen()
        assert workdirs.sweep(tmp_path) == [abandoned]
    assert not abandoned.exists()
    assert mine.is_dir() and alive_parent.is_dir() and served.is_dir() and other.is_dir()


def test_a_killed_process_directory_goes_with_the_next_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.setattr(workdirs, "_swept", set())
    code = (
        "import os, signal, sys, tempfile\n"
        f"tempfile.tempdir = {str(tmp_path)!r}\n"
        "from metalab_tunnel.workdirs import make_workdir\n"
        "print(make_workdir(), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    left = Path(killed.stdout.strip())
    assert killed.returncode == -9 and left.is_dir() and oct(left.stat().st_mode & 0o777) == "0o700"
    fresh = Path(workdirs.make_workdir())
    assert fresh.is_dir() and fresh.name.startswith(f"metalab-ssh-{os.getpid()}-")
    assert not left.exists()
