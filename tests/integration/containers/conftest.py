"""The Docker engine and the two images the container runtime uses, built from this checkout
(the build scripts are cached: an unchanged tree rebuilds in seconds)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.stack import build_network, docker_problem
from tests.support.components import require

ROOT = Path(__file__).resolve().parents[3]
IMAGES = {
    "metalab-postgres:latest": "scripts/build-postgres-image.sh",
    "metalab:latest": "scripts/build-image.sh",
}


@pytest.fixture(scope="session")
def images() -> None:
    """Skip (fail under METALAB_CI=1) without Docker; build the images (no registry), so an
    image left by an older checkout is never what the tests run."""
    require(docker_problem())
    for image, script in IMAGES.items():
        built = subprocess.run(
            ["bash", script, image],
            cwd=ROOT,
            env={**os.environ, **build_network()},
            capture_output=True,
            text=True,
            timeout=900,
        )
        tail = built.stderr.strip().splitlines()[-1:] or ["no output"]
        require(None if built.returncode == 0 else f"{script} failed: {tail[0]}")
