"""The Docker engine and the two images the container runtime uses, built once if missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.stack import build_network, docker_problem
from tests.integration.components import require

ROOT = Path(__file__).resolve().parents[3]
IMAGES = {
    "metalab-postgres:latest": "scripts/build-postgres-image.sh",
    "metalab:latest": "scripts/build-image.sh",
}


def _have(image: str) -> bool:
    found = subprocess.run(["docker", "image", "inspect", image], capture_output=True)
    return found.returncode == 0


@pytest.fixture(scope="session")
def images() -> None:
    """Skip (fail under METALAB_CI=1) without Docker; build a missing image (no registry)."""
    require(docker_problem())
    for image, script in IMAGES.items():
        if _have(image):
            continue
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
