"""`pip install clients/python` alone (no services, no `[server]` extra) in a fresh venv:
`env list`, `discover` and an SDK sweep work against a running `metalab server`, and embedded
mode says what to install instead of failing on an import."""

from __future__ import annotations

import os
import subprocess
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import METALAB

ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = ("metalab_server", "metalab_orchestrator", "metalab_registry", "metalab_tunnel")
SWEEP = """
import metalab


@metalab.operation
def train(params, seeds, capture):
    capture.metric("loss", params["lr"] * 2)


exp = metalab.Experiment(
    name="sweep",
    version="1.0",
    context={},
    operation=train,
    params=metalab.grid(lr=[1e-3, 1e-2]),
    seeds=metalab.seeds(base=42, replicates=2),
)
results = metalab.run(exp, store="discover").result()
for run in sorted(results, key=lambda run: run.params["lr"]):
    print(run.params["lr"], run.status.value, run.metrics["loss"])
"""

pytestmark = pytest.mark.skipif(
    os.environ.get("METALAB_SLOW") != "1", reason="slow (a pip install): set METALAB_SLOW=1"
)


@pytest.fixture(scope="module")
def plain_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A venv holding the client wheel and its declared dependencies only (pip as
    scripts/bootstrap.sh uses it: the machine's index and wheel cache configuration)."""
    where = tmp_path_factory.mktemp("plain") / "venv"
    venv.EnvBuilder(with_pip=True).create(where)
    python = where / "bin" / "python"
    install = [str(python), "-m", "pip", "install", "-q", str(ROOT / "clients" / "python")]
    done = subprocess.run(install, env=_clean_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return where


def _clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without its source paths (which hold the services)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "METALAB_SERVER")}
    return {**env, **extra}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    path = tmp_path / "proj"
    path.mkdir()
    (path / ".metalab.toml").write_text(
        '[project]\nname = "plain"\n[environments.local]\ntype = "local"\nfile_root = "./runs"\n'
    )
    (path / "sweep.py").write_text(SWEEP)
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A `metalab server` of the main venv (every service installed)."""
    address = f"unix:{tmp_path}/metalab.sock"
    process = subprocess.Popen(
        [METALAB, "server", "--listen", address], stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    banner = process.stderr.readline()
    assert "metalab server:" in banner, banner
    try:
        yield address
    finally:
        process.terminate()
        process.wait(10)


def _run(where: Path, args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(where / "bin" / args[0]), *args[1:]],
        cwd=cwd,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_plain_wheel_holds_no_server_code(plain_venv: Path, tmp_path: Path) -> None:
    probe = "import importlib.util as u; print([n for n in %r if u.find_spec(n)])"
    found = _run(plain_venv, ["python", "-c", probe % (SERVER_PACKAGES,)], tmp_path)
    assert found.returncode == 0 and found.stdout.strip() == "[]", found


def test_plain_wheel_against_a_running_server(plain_venv: Path, project: Path, server: str) -> None:
    remote = {"METALAB_SERVER": server}
    listed = _run(plain_venv, ["metalab", "env", "list"], project, **remote)
    assert listed.returncode == 0 and "local" in listed.stdout, listed.stderr
    up = _run(plain_venv, ["metalab", "services", "up", "-q"], project, **remote)
    assert up.returncode == 0, up.stderr
    try:
        found = _run(plain_venv, ["metalab", "discover"], project, **remote)
        assert found.returncode == 0, found.stderr
        assert found.stdout.strip() == str(project / "runs")
        sweep = _run(plain_venv, ["python", "sweep.py"], project, **remote)
        assert sweep.returncode == 0, sweep.stderr[-2000:]
        assert sweep.stdout.splitlines() == [
            "0.001 success 0.002",
            "0.001 success 0.002",
            "0.01 success 0.02",
            "0.01 success 0.02",
        ]
        embedded = _run(plain_venv, ["metalab", "services", "status"], project)
        assert embedded.returncode == 2
        assert embedded.stderr.count("\n") == 1 and "metalab[server]" in embedded.stderr
    finally:
        down = _run(plain_venv, ["metalab", "services", "down", "-q"], project, **remote)
    assert down.returncode == 0, down.stderr
