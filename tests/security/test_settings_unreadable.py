"""A settings file this account may not look at is one line and exit 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers import METALAB
from tests.security.processes import account_argv


def test_a_settings_file_behind_a_closed_directory_is_one_line(
    open_tmp: Path, intruder: str
) -> None:
    closed = open_tmp / "closed"
    closed.mkdir(mode=0o700)  # root's: the other account may not even stat what is inside
    settings = closed / "settings.yaml"
    settings.write_text("server:\n  host: 127.0.0.1\n")
    project = open_tmp / "proj"
    project.mkdir()
    (project / ".metalab.toml").write_text(
        '[project]\nname = "p"\n\n[environments.local]\ntype = "local"\nfile_root = "./runs"\n'
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": "/",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        "METALAB_SETTINGS": str(settings),
        "METALAB_HOME": str(open_tmp / "home"),
        "XDG_CACHE_HOME": str(open_tmp / "cache"),
    }
    for argv in (["services", "status"], ["settings", "show"]):
        done = subprocess.run(
            account_argv(intruder, [str(METALAB), *argv]),
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, (argv, done.stdout, done.stderr)
        assert "Traceback" not in done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and str(settings) in lines[0], (argv, done.stderr)
        assert "Permission denied" in lines[0]
