"""`scripts/build-image.sh` with no base image and no registry: one line says how to make it.

As a normal user (the debootstrap path needs root), in a fresh copy of the repository, with a
base image name that exists nowhere: the pull fails and the script stops before any work,
naming the command that builds that base without a registry.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.e2e.sandbox import chown_tree, normal_account, repository_copy
from tests.e2e.stack import docker_problem
from tests.support.components import require

pytestmark = [pytest.mark.docker, pytest.mark.timeout(600)]


def test_missing_base_image_names_the_command_that_makes_it() -> None:
    require(docker_problem())
    account = normal_account()
    scratch = Path(tempfile.mkdtemp(prefix="mlb-"))
    try:
        scratch.chmod(0o755)
        repo = repository_copy(scratch)
        if not account.is_self:
            chown_tree(scratch, account)
        base = f"metalab-absent:{secrets.token_hex(4)}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB_")}
        ran = subprocess.run(
            account.argv("scripts/build-image.sh", "metalab:never-built"),
            cwd=repo,
            env={**env, "HOME": str(scratch), "METALAB_BASE_IMAGE": base},
            capture_output=True,
            text=True,
            timeout=400,
        )
        assert ran.returncode == 2, ran.stderr
        lines = ran.stderr.strip().splitlines()
        assert lines[-2].startswith(f"[build-image.sh] cannot pull {base}: ")
        assert lines[-1] == (
            f"[build-image.sh] ERROR: no base image {base}: make it without a registry"
            f" (debootstrap) as root with `sudo scripts/infra/make-base-image.sh {base}`,"
            " then run this again"
        )
        assert not (repo / "build/wheelhouse/metalab").exists()  # stopped before any work
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
