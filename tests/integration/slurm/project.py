"""A throwaway metalab project, driven through the CLI against a real SLURM cluster."""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metalab.core.slurm.squeue import ACTIVE

CLI = str(Path(sys.executable).parent / "metalab")


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string
    return str(value)


def toml_table(name: str, values: dict[str, Any]) -> str:
    lines = [f"[{name}]"] + [f"{k} = {toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n\n"


@dataclass
class Project:
    """A project dir with `.metalab.toml`; file_root in a world-traversable dir under /tmp."""

    dir: Path
    root: Path
    name: str
    env: dict[str, str] = field(default_factory=dict)

    def configure(
        self,
        *,
        postgres: dict[str, Any] | None = None,
        atlas: dict[str, Any] | None = None,
        slurm: dict[str, Any] | None = None,
        local: str = "",
    ) -> None:
        text = toml_table("project", {"name": self.name, "default_env": "slurm"})
        if postgres is not None:
            text += toml_table("services.postgres", postgres)
        if atlas is not None:
            text += toml_table("services.atlas", atlas)
        environment = {
            "type": "slurm",
            "partition": "debug",
            "time": "10:00",
            "file_root": str(self.root),
            "start_timeout": 60,
            **(slurm or {}),
        }
        if self.env.get("PYTHONPATH"):  # a checkout on PYTHONPATH: the job runs its code too
            setup = [f"export PYTHONPATH={shlex.quote(self.env['PYTHONPATH'])}"]
            environment["setup"] = setup + list(environment.get("setup", []))
        text += toml_table("environments.slurm", environment)
        (self.dir / ".metalab.toml").write_text(text)
        run_as = 'run_as = "metalab"\n' if postgres is not None else ""
        (self.dir / ".metalab.local.toml").write_text(
            ("[services.postgres]\n" + run_as if postgres is not None else "") + local
        )

    def cli(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [CLI, *args],
            cwd=self.dir,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [CLI, *args],
            cwd=self.dir,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    @property
    def services_dir(self) -> Path:
        return self.root / "services"

    def bundle(self) -> dict[str, Any] | None:
        path = self.services_dir / "bundle.json"
        return json.loads(path.read_text()) if path.exists() else None

    def jobs(self) -> dict[str, str]:
        """Job id -> state of this project's jobs (still known to slurmctld)."""
        out = subprocess.run(
            ["squeue", "-h", "-t", "all", "-o", "%i|%T|%j"],  # a name may hold "|"
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
            env=self.env,
        ).stdout
        prefix = f"metalab-{self.name}-"
        return {
            i: s
            for i, s, n in (line.split("|", 2) for line in out.splitlines())
            if n.startswith(prefix)
        }

    def active_jobs(self) -> dict[str, str]:
        """Jobs not yet final, by the product's own definition (SIGNALING, STAGE_OUT, ...)."""
        return {i: s for i, s in self.jobs().items() if s in ACTIVE}

    def wait_no_active_jobs(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.active_jobs():
            assert time.monotonic() < deadline, f"jobs still active: {self.active_jobs()}"
            time.sleep(0.2)


@contextlib.contextmanager
def throwaway_project(
    tmp_path: Path, base_env: Mapping[str, str], prefix: str, name_prefix: str
) -> Iterator[Project]:
    """A project in ``tmp_path`` whose runs go to a fresh /tmp root; on exit its services are
    stopped, its SLURM jobs cancelled and the root removed."""
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    root.chmod(0o755)
    project_dir = tmp_path / "proj"
    project_dir.mkdir()
    env = {k: v for k, v in base_env.items() if not k.startswith(("METALAB_", "SSH_AUTH"))}
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '/usr/bin:/bin')}"
    p = Project(project_dir, root / "exp", f"{name_prefix}{uuid.uuid4().hex[:8]}", env)
    p.root.mkdir(mode=0o755)
    try:
        yield p
    finally:
        if (p.dir / ".metalab.toml").exists():
            p.cli("services", "down", "--env", "slurm", timeout=180)
        for job in p.active_jobs():  # never leave a job behind, whatever the test did
            subprocess.run(["scancel", job], check=False, timeout=30, env=env)
        shutil.rmtree(root, ignore_errors=True)
