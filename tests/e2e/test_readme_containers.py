"""The README's "Containers" section, read from README.md itself, runs as written.

Its two bash blocks (start, then stop) run in one bash session against the real Docker engine
with no image registry: in a fresh copy of the repository (the section writes `.env` and
`secrets/` there), with HOME a new directory (the shared root is `$HOME/metalab-shared`), as
root and as a normal user. Between the blocks the test asks Atlas, on the port and with the
token of the project's bundle, for its health. Only what the commands take from the
environment is set: free ports, a compose project name and an image tag, so that the run
touches no other stack. Afterwards `docker compose down --volumes` removes what is left.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.sandbox import VENV, Account, chown_tree, normal_account, repository_copy
from tests.e2e.stack import REPO, build_network, docker_problem, free_port_block
from tests.support.components import require

pytestmark = [pytest.mark.docker, pytest.mark.timeout(1800)]

README = REPO / "README.md"

# Run between the two blocks, in the project directory: Atlas's health, with its token.
ATLAS_HEALTH = """
import json, pathlib, sys, urllib.request
atlas = json.loads(pathlib.Path("runs/services/bundle.json").read_text())["services"]["atlas"]
token = pathlib.Path(atlas["secret_ref"]).read_text().strip()
request = urllib.request.Request(
    f"http://127.0.0.1:{atlas['port']}/api/health", headers={"Authorization": f"Bearer {token}"}
)
with urllib.request.urlopen(request, timeout=10) as response:
    pathlib.Path(sys.argv[1]).write_bytes(response.read())
"""


def section_blocks(text: str, heading: str) -> list[str]:
    """The ```bash blocks of the level-2 section ``heading`` of a Markdown text."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {heading}' section"
    return re.findall(r"^```bash\n(.*?)^```", match.group(1), re.M | re.S)


@dataclass
class Run:
    repo: Path
    home: Path
    env: dict[str, str]
    health: Path


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mlr-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def prepare(account: Account, scratch: Path) -> Run:
    scratch.chmod(0o755)
    repo = repository_copy(scratch)
    # As root the section's shared root lands under /root, as it would for a real root user.
    # Short names: PostgreSQL's socket path under the project must stay within 107 bytes.
    parent = Path.home() if account.uid == 0 else scratch
    home = Path(tempfile.mkdtemp(prefix=".mlr-", dir=parent))
    health = scratch / "atlas-health.json"
    if not account.is_self:
        chown_tree(scratch, account)
        os.chown(home, account.uid, account.gid)
    first = free_port_block(3 + 4)
    keep = {
        k: v for k, v in os.environ.items() if not k.startswith(("METALAB_", "COMPOSE_", "XDG_"))
    }
    env = {
        **keep,
        "HOME": str(home),
        "PATH": f"{VENV / 'bin'}{os.pathsep}{keep.get('PATH', '')}",
        "COMPOSE_PROJECT_NAME": f"metalab-readme-{secrets.token_hex(3)}",
        "METALAB_IMAGE": f"metalab:readme-{'root' if account.uid == 0 else 'user'}",
        "METALAB_SERVER_PORT": str(first),
        "METALAB_REGISTRY_PORT": str(first + 1),
        "METALAB_TUNNEL_PORT": str(first + 2),
        "METALAB_PORTS": f"{first + 3}-{first + 6}",
        **build_network(),
    }
    docker_config = Path(os.environ.get("DOCKER_CONFIG", Path.home() / ".docker"))
    if account.is_self and docker_config.is_dir():
        env["DOCKER_CONFIG"] = str(docker_config)  # its CLI plugins (compose)
    return Run(repo, home, env, health)


def run_section(account: Account, run: Run) -> subprocess.CompletedProcess[str]:
    blocks = section_blocks(README.read_text(), "Containers")
    assert len(blocks) == 2, f"expected a start and a stop block, found {len(blocks)}"
    start, stop = blocks
    probe = f"{shlex.quote(sys.executable)} -c {shlex.quote(ATLAS_HEALTH)} {run.health}"
    script = f"set -euo pipefail\n{start}\n{probe}\n{stop}\n"
    return subprocess.run(
        account.argv("bash", "-x", "-c", script),
        cwd=run.repo,
        env=run.env,
        capture_output=True,
        text=True,
        timeout=1500,
    )


def tear_down(run: Run) -> None:
    subprocess.run(
        ["docker", "compose", "down", "--volumes", "--remove-orphans", "--timeout", "5"],
        cwd=run.repo,
        env=run.env,
        capture_output=True,
        timeout=300,
    )
    shutil.rmtree(run.home, ignore_errors=True)


@pytest.mark.parametrize(
    "who", [pytest.param("root", marks=pytest.mark.root(reason="the root run needs root")), "user"]
)
def test_readme_container_section_runs_as_written(who: str, scratch: Path) -> None:
    require(docker_problem())
    if who == "root":
        account = Account("root", 0, 0)
    else:
        account = normal_account()
    run = prepare(account, scratch)
    try:
        ran = run_section(account, run)
        assert ran.returncode == 0, f"{ran.stdout[-2000:]}\n{ran.stderr[-4000:]}"
        assert json.loads(run.health.read_bytes())["store_readable"] is True
        assert "Services stopped (local)." in ran.stdout
        project = run.home / "metalab-shared" / "my-project"
        assert not (project / "runs/services/bundle.json").exists()
        listed = subprocess.run(
            ["docker", "compose", "ps", "--all", "--quiet"],
            cwd=run.repo,
            env=run.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listed.returncode == 0 and listed.stdout.strip() == ""
    finally:
        tear_down(run)
