"""The README's "Using it in a project" section, read from README.md itself, runs as written.

In a scratch project whose `.metalab.toml` is the section's TOML block, on the real embedded
services (`metalab services up`: PostgreSQL and Atlas on this machine):

* the command block runs line by line, in its order. A line runs verbatim unless it shows
  placeholders (``[--json]``, ``NAME``...): then `INSTANCES` gives the concrete commands it
  stands for. `SKIPPED` names the lines a test cannot run, with the reason. Every other line
  runs; a new README line that needs either table fails here until it is given one.
* the SDK snippet is a script file, unguarded, run as written (SLURM, on the suite's private
  test cluster) and with its executor replaced by a local 2-worker one. Either way: one sweep
  (one manifest, no sweep started from a task), 6 successful runs and a 6-line table; Atlas
  lists the 6 runs through its API; no plan folder is left behind.

The "Containers" section has its own test (`tests/e2e/test_readme_containers.py`);
`BLOCKS` says for every code block of the README which test runs it, or why none does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import REPO
from tests.support.components import postgres_missing, require, slurm_missing
from tests.support.ports import free_port

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(900)]

README = REPO / "README.md"
SECTION = "Using it in a project"
BIN = Path(sys.executable).parent
WRITTEN = 'metalab.resolve_executor("slurm", {})'
LOCAL = 'metalab.resolve_executor("local", {"workers": 2})'
EXPERIMENT = "sweep:1.0"
ORPHAN = "0" * 16  # a run id no experiment names
PORT = "50051"  # the README's gRPC port; the test listens on a free one instead

# A README command line (its text before the comment) -> the commands it stands for.
INSTANCES: dict[str, list[str]] = {
    'eval "$(metalab completion bash)"': [
        'eval "$(metalab completion bash)" && complete -p metalab'
    ],
    "metalab services up [--env NAME]": ["metalab services up", "metalab services up --env local"],
    "metalab services status [--json]": [
        "metalab services status",
        "metalab services status --json",
    ],
    "metalab services logs [SERVICE] [-n/--tail N] [--follow]": [
        "metalab services logs",
        "metalab services logs postgres -n 5",
        "metalab services logs atlas --tail 5",
    ],
    "metalab store list -s discover [--json]": [
        "metalab store list -s discover",
        "metalab store list -s discover --json",
    ],
    "metalab runs recover EXP/RUN": ["metalab runs recover sweep_1.0/{lost}"],
    "metalab orphans --workdir ./runs [--clean]": [
        "metalab orphans --workdir ./runs",
        "metalab orphans --workdir ./runs --clean",
    ],
}

# README command lines no test can run here, and why.
SKIPPED: dict[str, str] = {
    "metalab tunnel [--detach]": "forwards a remote environment's services; the project is local",
    "metalab monitor --workspace ID": "streams a remote workspace's status; there is none",
    "metalab server": "serves in the foreground on the Unix socket; the --listen line serves the "
    "same servicers over TCP and is run",
    "metalab server --shared-socket unix:/srv/lab/metalab.sock": "serves in the foreground for "
    "other accounts; tests/security/test_owner_socket.py and test_auth.py run it with a second "
    "account",
}


SETUP = "Set-up: two commands on a fresh Debian 12 machine"

# Every fenced block of the README, in order: (section, language) -> what covers it.
BLOCKS: list[tuple[tuple[str, str], str]] = [
    (
        (SETUP, "bash"),
        "not run: scripts/quickstart.sh installs the workspace into .venv (scripts/bootstrap.sh) "
        "and scripts/test.sh is this suite; what quickstart starts is `metalab services up`, run "
        "here",
    ),
    ((SETUP, ""), "the output `metalab services up` prints: checked against it here"),
    ((SECTION, "toml"), "this test: the project file"),
    ((SECTION, "bash"), "this test: line by line"),
    ((SECTION, "python"), "this test: as written (SLURM) and with a local 2-worker executor"),
    (("Containers", "bash"), "tests/e2e/test_readme_containers.py"),
    (("Containers", "bash"), "tests/e2e/test_readme_containers.py"),
    (("Layout", ""), "not code: the repository's directories"),
]


def test_every_readme_code_block_is_covered() -> None:
    found = []
    for match in re.finditer(r"^## (.+?)\n(.*?)(?=^## |\Z)", README.read_text(), re.M | re.S):
        found += [(match.group(1), language) for language, _ in fenced(match.group(2))]
    assert found == [block for block, _ in BLOCKS]


def started_shape() -> re.Pattern[str]:
    """The Set-up section's example output of `metalab services up`, any ports and token."""
    (example,) = [
        body for language, body in fenced(section(README.read_text(), SETUP)) if not language
    ]
    shape = re.sub(r"\d{2,5}", r"\\d+", re.escape(re.sub(r"token=\S+", "token=TOKEN", example)))
    return re.compile(shape.replace("TOKEN", r"[A-Za-z0-9_-]+"))


def fenced(text: str) -> list[tuple[str, str]]:
    """The fenced code blocks of a Markdown text: (language, body), in order."""
    return [(m[1], m[2]) for m in re.finditer(r"^```(\w*)\n(.*?)^```$", text, re.M | re.S)]


def section(text: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"README.md has no '## {heading}' section"
    return match.group(1)


def blocks(language: str) -> list[str]:
    """The ``language`` code blocks of the section, as written."""
    return [body for lang, body in fenced(section(README.read_text(), SECTION)) if lang == language]


def only(language: str) -> str:
    found = blocks(language)
    assert len(found) == 1, f"expected one {language} block in '{SECTION}', found {len(found)}"
    return found[0]


def command_lines() -> list[str]:
    """The command block's lines, each without its trailing comment."""
    lines = []
    for line in only("bash").splitlines():
        command = re.sub(r"\s+#\s.*$", "", line).strip()
        if command:
            lines.append(command)
    return lines


@dataclass
class Project:
    dir: Path
    env: dict[str, str]

    def bash(self, command: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-euo", "pipefail", "-c", command],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def ok(self, command: str, timeout: float = 300) -> str:
        done = self.bash(command, timeout)
        assert done.returncode == 0, (
            f"{command!r} exit {done.returncode}\n{done.stdout}\n{done.stderr}"
        )
        return done.stdout

    @property
    def runs(self) -> Path:
        return self.dir / "runs"

    def atlas_runs(self) -> list[dict[str, Any]]:
        """The runs of the README's experiment, as Atlas's API lists them."""
        bundle = json.loads((self.runs / "services" / "bundle.json").read_text())
        atlas = bundle["services"]["atlas"]
        path = f"/api/experiments/{urllib.parse.quote(EXPERIMENT, safe='')}/runs?limit=500"
        request = urllib.request.Request(f"http://127.0.0.1:{atlas['port']}{path}")
        if atlas.get("secret_ref"):  # a token only where Atlas asks for one
            token = Path(atlas["secret_ref"]).read_text().strip()
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=30) as response:
            runs: list[dict[str, Any]] = json.loads(response.read())["runs"]
        return runs


@pytest.fixture
def project() -> Iterator[Project]:
    require(postgres_missing())
    # Short and traversable: PostgreSQL runs as an unprivileged account under root, and its
    # socket path under the project must stay within 107 bytes.
    path = Path(tempfile.mkdtemp(prefix="mlrd-", dir="/tmp"))
    path.chmod(0o755)
    (path / ".metalab.toml").write_text(only("toml"))
    if os.geteuid() == 0:  # what the section asks of root
        text = section(README.read_text(), SECTION)
        assert '`[services.postgres]` with `run_as = "metalab"`' in text
        (path / ".metalab.local.toml").write_text('[services.postgres]\nrun_as = "metalab"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB_")}
    env["METALAB_HOME"] = os.environ["METALAB_HOME"]  # this test's own (tests/conftest.py)
    env["PATH"] = f"{BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}"
    # User settings (docs/settings-and-workspaces.md): the project's runs are a workspace with
    # a backup folder, so that `metalab runs recover` has a folder to copy a run back from.
    settings = Path(os.environ["XDG_CONFIG_HOME"]) / "metalab" / "settings.yaml"
    settings.parent.mkdir(parents=True, exist_ok=True)
    settings.write_text(
        f"workspaces:\n  - id: project\n    path: {path / 'runs'}\n"
        f"    folders: [{{path: {path / 'backup'}, mode: backup}}]\n"
    )
    made = Project(path, env)
    try:
        yield made
    finally:
        if (path / "runs" / "services" / "bundle.json").exists():
            made.bash("metalab services down", timeout=180)
        shutil.rmtree(path, ignore_errors=True)


def snippet(executor: str) -> str:
    """The README's SDK snippet as written, or with its executor replaced (exactly once)."""
    code = only("python")
    assert code.count(WRITTEN) == 1, f"the snippet should call {WRITTEN} once"
    return code if executor == "slurm" else code.replace(WRITTEN, LOCAL)


def run_snippet(project: Project, executor: str) -> None:
    """Run the snippet as ``train.py`` in the project; check the sweep, its table and Atlas."""
    script = project.dir / "train.py"
    script.write_text(snippet(executor))
    started = time.monotonic()
    out = project.ok(f"{BIN / 'python'} train.py", timeout=400)
    print(f"snippet ({executor}): {time.monotonic() - started:.1f}s")
    table = out.splitlines()
    assert len(table) == 6, out
    assert [line.split()[1] for line in table] == ["success"] * 6, out
    assert sorted(float(line.split()[0]) for line in table) == [1e-3] * 3 + [1e-2] * 3
    experiments = [p.parent for p in project.runs.glob("*/_meta.json") if p.parent != project.runs]
    assert len(experiments) == 1, experiments
    manifests = list((experiments[0] / "experiments").glob("*.json"))
    assert len(manifests) == 1, f"more than one sweep: {manifests}"  # none from a task
    assert json.loads(manifests[0].read_text())["operation"]["ref"] == "train.py:train"
    batches = list((experiments[0] / "slurm").glob("*")) if executor == "slurm" else []
    assert len(batches) == (1 if executor == "slurm" else 0), batches  # one submission
    assert not list(project.runs.rglob(".metalab")), "a plan folder was left behind"
    if executor != "slurm":
        assert not (experiments[0] / "slurm").exists()
    runs = project.atlas_runs()
    assert len(runs) == 6 and {r["status"] for r in runs} == {"success"}, runs


def test_readme_commands_and_local_snippet(project: Project) -> None:
    lines = command_lines()
    for named in [*INSTANCES, *SKIPPED]:
        assert named in lines, f"{named!r} is no longer a README command line"
    placeholders = [
        line
        for line in lines
        if re.search(r"\[|\b[A-Z]{2,}\b", line.replace(PORT, ""))
        and line not in INSTANCES
        and not line.startswith("metalab server health")
    ]
    assert not placeholders or set(placeholders) <= set(SKIPPED), placeholders
    port = str(free_port())
    server: subprocess.Popen[str] | None = None
    lost = ""
    timings: dict[str, float] = {}
    try:
        for line in lines:
            if line in SKIPPED:
                continue
            if line.startswith("metalab store") and "snippet" not in timings:
                started = time.monotonic()
                run_snippet(project, "local")  # the runs the store commands act on
                timings["snippet"] = time.monotonic() - started
            started = time.monotonic()
            if line.startswith("metalab orphans"):
                plant_orphan(project)
            if line.startswith("metalab runs recover"):
                lost = lose_run(project)
            if line.startswith("metalab server --listen"):
                server = subprocess.Popen(
                    ["bash", "-c", f"exec {line.replace(PORT, port)}"],
                    cwd=project.dir,
                    env=project.env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    text=True,
                )
            elif line.startswith("metalab server health"):
                deadline = time.monotonic() + 60
                health = line.replace("[ADDR]", f"127.0.0.1:{port}")
                while project.bash(health, timeout=60).returncode != 0:
                    assert time.monotonic() < deadline, "the server never reported SERVING"
                    time.sleep(0.5)
            else:
                for command in INSTANCES.get(line, [line]):
                    command = command.format(lost=lost) if "{lost}" in command else command
                    check(project, command, project.ok(command))
            timings[line] = time.monotonic() - started
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps({k: round(v, 1) for k, v in timings.items()}, indent=1))
    assert not (project.runs / "services" / "bundle.json").exists()


def check(project: Project, command: str, out: str) -> None:
    """What a command's output must show, beyond its exit status 0."""
    print(f"$ {command}\n{out}")
    if command == "metalab services up":
        assert started_shape().fullmatch(out), out
    elif command == "metalab services status --json":
        assert json.loads(out)["healthy"] is True, out
    elif command == "metalab discover":
        assert out.startswith("postgresql://") and "file_root=" in out, out
    elif command == "metalab store reindex":
        assert "6 run(s)" in out, out
        assert len(project.atlas_runs()) == 6
    elif command == "metalab store list -s discover --json":
        assert EXPERIMENT in json.loads(out)["experiments"], out
    elif command.startswith('eval "$(metalab completion bash)"'):
        assert out.startswith("complete ") and out.rstrip().endswith(" metalab"), out
    elif command.startswith("metalab runs recover"):
        assert out.startswith(f"recovered {command.split()[-1]} from backup folder"), out
        assert len(list(project.runs.glob("*/runs/*.json"))) == 6
    elif command.startswith("metalab orphans"):
        orphan = next(project.runs.glob(f"*/runs/{ORPHAN}.json"), None)
        if command.endswith("--clean"):
            assert "1 orphan(s)" in out and "removed 1" in out and orphan is None, out
        else:
            assert f"orphan       sweep_1.0/{ORPHAN}" in out and "1 orphan(s)" in out, out
        assert len(list(project.runs.glob("*/runs/*.json"))) == 6 + (orphan is not None)


def lose_run(project: Project) -> str:
    """Delete a run's record from the project (its backup copy stays); its id."""
    records = sorted(project.runs.glob("*/runs/*.json"))
    assert len(records) == 6 and (project.dir / "backup").is_dir()
    records[0].unlink()
    return records[0].stem


def plant_orphan(project: Project) -> None:
    """A run record the experiment's manifest does not name."""
    (experiment,) = [p.parent for p in project.runs.glob("*/_meta.json")]
    (experiment / "runs" / f"{ORPHAN}.json").write_text("{}")


@pytest.mark.slurm
def test_readme_snippet_as_written_on_slurm(project: Project) -> None:
    require(slurm_missing())
    project.ok("metalab services up")
    run_snippet(project, "slurm")
