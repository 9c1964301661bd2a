"""A throwaway metalab project per test, driven through the CLI against the real cluster."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.slurm.project import Project, throwaway_project
from tests.support.components import postgres_missing, require, slurm_missing


@pytest.fixture
def cluster() -> None:
    require(slurm_missing())
    require(postgres_missing())


@pytest.fixture
def project(cluster: None, tmp_path: Path) -> Iterator[Project]:
    with throwaway_project(tmp_path, os.environ, "metalab-slurm-", "t") as p:
        yield p
