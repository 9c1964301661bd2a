from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def in_work_dir(work_dir: Path) -> Path:
    """Every test here runs in an empty directory."""
    return work_dir
