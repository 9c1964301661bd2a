"""Shared fixtures: a clean environment per test, traversable temp dirs, component gates."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from tests.support.components import TEST_SLURM_CONF

# As in the servers (metalab_server/__init__.py): gRPC's fork handlers can crash a child this
# process forks while gRPC threads run; set before any test module imports grpc.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

IN_CI = os.environ.get("METALAB_CI") == "1"

pytest_plugins = ["tests.support.fixtures"]

# No per-example deadline: a loaded CI machine is not a failing property (timings go in
# benchmarks/, never in assertions).
hypothesis_settings.register_profile("metalab", deadline=None)
hypothesis_settings.load_profile("metalab")

# The suite's private SLURM cluster (scripts/infra/start-slurm.sh; paths in slurm-env.sh). Set
# before any test runs, so every sinfo/sbatch/squeue of the tests and of the product under test
# (which inherits the environment, as SLURM's own tools read SLURM_CONF) talks to it and never
# to a system SLURM configured in /etc/slurm.
os.environ["SLURM_CONF"] = str(TEST_SLURM_CONF)

COMPONENT_CHECKS: dict[str, Callable[[], bool]] = {
    "postgres": lambda: bool(
        shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    ),
    "slurm": lambda: (
        subprocess.run(["sinfo"], capture_output=True).returncode == 0
        if shutil.which("sinfo")
        else False
    ),
    "sshd": lambda: Path("/usr/sbin/sshd").exists(),
    "docker": lambda: (
        bool(shutil.which("docker"))
        and subprocess.run(["docker", "info"], capture_output=True).returncode == 0
    ),
    "browser": lambda: Path("/usr/bin/chromium").exists(),
}

# Conditions that skip a test wherever they do not hold, CI included (they are not components
# a machine lacks): marker → (check, default reason). ``@pytest.mark.root(reason=...)`` says why.
CONDITIONS: dict[str, tuple[Callable[[], bool], str]] = {
    "root": (lambda: os.geteuid() == 0, "needs root"),
    "slow": (lambda: os.environ.get("METALAB_SLOW") == "1", "slow: set METALAB_SLOW=1"),
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A missing component skips its tests on a laptop, and fails them under `.ci/run`; an
    unmet condition (`CONDITIONS`) skips its tests everywhere."""
    available: dict[str, bool] = {}
    for item in items:
        for name, check in COMPONENT_CHECKS.items():
            if item.get_closest_marker(name) is None:
                continue
            if name not in available:
                available[name] = check()
            if not available[name] and not IN_CI:
                item.add_marker(pytest.mark.skip(reason=f"{name} is not available here"))
        for name, (holds, default) in CONDITIONS.items():
            marker = item.get_closest_marker(name)
            if marker is not None and not holds():
                item.add_marker(pytest.mark.skip(reason=marker.kwargs.get("reason", default)))


@pytest.fixture(autouse=True)
def clean_environ(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """No METALAB_* leaks in; caches and ~/.metalab are per test."""
    for name in list(os.environ):
        if name.startswith("METALAB_") and name not in ("METALAB_CI", "METALAB_UPDATE_GOLDEN"):
            monkeypatch.delenv(name)
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("METALAB_HOME", str(home / ".metalab"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))


@pytest.fixture(autouse=True)
def sigint_handler_kept() -> Iterator[None]:
    """A test that leaves another SIGINT handler installed is named (a warning) and undone:
    a later Ctrl+C test would otherwise wait for a signal that nobody turns into
    `KeyboardInterrupt`."""
    before = signal.getsignal(signal.SIGINT)
    yield
    after = signal.getsignal(signal.SIGINT)
    if after is not before:
        signal.signal(signal.SIGINT, before)
        warnings.warn(
            f"SIGINT handler left installed: {after!r}", pytest.PytestWarning, stacklevel=1
        )


@pytest.fixture
def work_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty current directory for the test (what `./experiments` defaults resolve in)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def open_tmp() -> Iterator[Path]:
    """A temp dir other accounts can traverse (pytest's own is 0700; Postgres runs as
    an unprivileged account when tests run as root)."""
    path = Path(tempfile.mkdtemp(prefix="metalab-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def slurm_partition() -> str:
    """The test cluster's default partition; skips (fails under METALAB_CI=1) without SLURM."""
    from tests.support.components import default_partition, require, slurm_missing

    require(slurm_missing())
    return default_partition()
