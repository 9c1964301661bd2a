"""asyncssh's "DSA is deprecated" import warning (cryptography >= 51) never reaches users."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "metalab_tunnel.connector",
        "metalab_atlas.remote",
        "metalab_orchestrator.backends.slurm.runner",
    ],
)
def test_importing_our_ssh_users_warns_nothing_even_as_errors(module: str) -> None:
    code = f"import {module}, asyncssh"
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr


def test_only_that_warning_is_dropped() -> None:
    code = (
        "import warnings\n"
        "from metalab.core import asyncssh_warnings\n"
        "asyncssh_warnings.quiet()\n"
        "warnings.warn_explicit('Something else', UserWarning, 'x.py', 1, module='asyncssh.x')\n"
    )
    result = subprocess.run(
        [sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode != 0 and "Something else" in result.stderr
