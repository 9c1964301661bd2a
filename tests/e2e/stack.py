"""The compose stack of metalab's services, for the e2e test and the benchmark.

`docker_problem` gets a Docker engine, Compose v2 and the base image ready (as root it installs
and starts Docker and builds the base image with scripts/infra/, each skipped when done);
`build_image` builds the project image; `Stack` runs `docker compose` on its own project name,
free ports, a shared root and a token file, isolated from any `.env` in the repository.
"""

from __future__ import annotations

import functools
import os
import random
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "scripts" / "infra"
BASE_IMAGE = os.environ.get("METALAB_BASE_IMAGE") or "metalab-base:bookworm"
CONTAINER_UID = 1000  # the image's account; the stack runs as it
PORT_COUNT = 6  # Postgres + Atlas for up to three environments


def _ok(*argv: str) -> bool:
    return subprocess.run(argv, capture_output=True, timeout=120).returncode == 0


def _infra(script: str, *args: str) -> str | None:
    result = subprocess.run(
        ["bash", str(INFRA / script), *args], capture_output=True, text=True, timeout=900
    )
    if result.returncode != 0:
        tail = result.stderr.strip().splitlines()[-1:] or ["no output"]
        return f"scripts/infra/{script} failed: {tail[0]}"
    return None


def docker_problem() -> str | None:
    """None when Docker, Compose v2 and the base image are ready; else what is missing."""
    root = os.geteuid() == 0
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        if not root:
            return "Docker missing: run scripts/infra/ci-setup.sh --docker as root"
        if problem := _infra("install-packages.sh", "--docker"):
            return problem
    if not _ok("docker", "info") or not _ok("docker", "compose", "version"):
        if not root:
            return "Docker engine not running: run scripts/infra/start-docker.sh as root"
        if problem := _infra("start-docker.sh"):
            return problem
    if not _ok("docker", "image", "inspect", BASE_IMAGE):
        if not root:
            return f"no base image {BASE_IMAGE}: run scripts/infra/make-base-image.sh as root"
        if problem := _infra("make-base-image.sh", BASE_IMAGE):
            return problem
    return None


@functools.cache
def build_network() -> dict[str, str]:
    """``METALAB_BUILD_NETWORK=host`` when Docker's default bridge cannot attach a container.

    `docker build` runs its RUN steps on that bridge; on a host whose bridge interface is gone
    they fail ("could not find bridge docker0") while compose's own networks still work.
    """
    probe = subprocess.run(
        ["docker", "run", "--rm", BASE_IMAGE, "true"], capture_output=True, text=True, timeout=120
    )
    broken = probe.returncode != 0 and "bridge" in probe.stderr
    return {"METALAB_BUILD_NETWORK": "host"} if broken else {}


def build_image(tag: str) -> None:
    """scripts/build-image.sh: wheelhouse on this machine, then `docker build` from it."""
    env = {**os.environ, "METALAB_BASE_IMAGE": BASE_IMAGE, **build_network()}
    result = subprocess.run(
        [str(REPO / "scripts" / "build-image.sh"), tag],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if result.returncode != 0:
        raise RuntimeError(f"build-image.sh failed:\n{result.stderr[-3000:]}")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port_block(count: int) -> int:
    """The first port of ``count`` consecutive free ports below the ephemeral range."""
    for _ in range(200):
        start = random.randrange(20000, 32000 - count)
        if all(_bindable(p) for p in range(start, start + count)):
            return start
    raise RuntimeError(f"no {count} consecutive free ports found")


def _owned_by_container(path: Path) -> None:
    if os.geteuid() == 0:
        os.chown(path, CONTAINER_UID, CONTAINER_UID)


@dataclass
class Stack:
    """One compose project: ``root`` is shared with the containers at the same path."""

    image: str
    name: str = field(default_factory=lambda: f"metalab-e2e-{secrets.token_hex(3)}")
    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="metalab-e2e-")))
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    def __post_init__(self) -> None:
        self.root.chmod(0o755)
        _owned_by_container(self.root)
        self._private = Path(tempfile.mkdtemp(prefix="metalab-e2e-secret-"))
        self.token_file = self._private / "token"
        fd = os.open(self.token_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.token)
        _owned_by_container(self.token_file)
        self.env_file = self._private / "empty.env"  # keeps a repository .env out
        self.env_file.write_text("")
        first = free_port_block(3 + PORT_COUNT)
        self.server_port, self.registry_port, self.tunnel_port = first, first + 1, first + 2
        self.service_ports = (first + 3, first + 3 + PORT_COUNT - 1)

    def compose_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("METALAB_")}
        low, high = self.service_ports
        return {
            **env,
            "METALAB_IMAGE": self.image,
            "METALAB_BASE_IMAGE": BASE_IMAGE,
            "METALAB_ROOT": str(self.root),
            "METALAB_UID": str(CONTAINER_UID),
            "METALAB_GID": str(CONTAINER_UID),
            "METALAB_TOKEN_FILE": str(self.token_file),
            "METALAB_SERVER_PORT": str(self.server_port),
            "METALAB_REGISTRY_PORT": str(self.registry_port),
            "METALAB_TUNNEL_PORT": str(self.tunnel_port),
            "METALAB_PORTS": f"{low}-{high}",
        }

    def client_env(self) -> dict[str, str]:
        """What the host CLI needs to use the stack (the token in the environment only)."""
        return {"METALAB_SERVER": f"127.0.0.1:{self.server_port}", "METALAB_TOKEN": self.token}

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = ["docker", "compose", "-p", self.name, "-f", str(REPO / "docker-compose.yml")]
        result = subprocess.run(
            [*argv, "--env-file", str(self.env_file), *args],
            env=self.compose_env(),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if check and result.returncode != 0:
            raise RuntimeError(f"docker compose {' '.join(args)} failed:\n{result.stderr}")
        return result

    def up(self) -> None:
        self.compose("up", "-d", "--wait", "--wait-timeout", "180", "--no-build")

    def destroy(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", check=False)
        shutil.rmtree(self.root, ignore_errors=True)
        shutil.rmtree(self._private, ignore_errors=True)
