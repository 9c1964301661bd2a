"""A private Podman engine for the tests: `podman system service` on its own storage and socket
(never the system's), as root and as a rootless account with subordinate uids.

The images are the ones the Docker fixture built, copied with `docker save | podman load` when
the engine's copy differs (same image ids), so both engines run the same bytes.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

STATE = Path("/var/tmp/metalab-podman")  # short: rootless Podman takes a runroot of ≤ 50 chars
ROOTLESS_USER = "metalab-podman"
IMAGES = ("metalab-postgres:latest", "metalab:latest")


def podman_missing() -> str | None:
    """Why no Podman engine can run here (None when it can)."""
    for tool in ("podman", "newuidmap", "slirp4netns"):
        if shutil.which(tool) is None:
            return f"Podman missing: no {tool} (scripts/infra/ci-setup.sh --podman)"
    return None


def hybrid_cgroups() -> bool:
    """Whether this host mounts cgroup v1 controllers beside a v2 hierarchy (hybrid mode)."""
    return Path("/sys/fs/cgroup/unified").is_dir()


def _oci_runtime() -> list[str]:
    """runc on hybrid cgroup v1/v2 hosts, which crun (Podman's default) refuses."""
    return ["--runtime", "runc"] if hybrid_cgroups() and shutil.which("runc") else []


@dataclass
class Engine:
    """One running private engine: its socket, its account and how to run its CLI."""

    user: str
    home: Path
    process: subprocess.Popen[bytes] | None = None
    driver: str = "overlay"
    oci_runtime: str | None = None  # None: runc on hybrid cgroup hosts, else Podman's default
    store: Path | None = None  # another engine's storage (its images), else its own

    @property
    def socket(self) -> Path:
        return self.home / "run" / "podman.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    def env(self) -> dict[str, str]:
        """The environment the engine's account runs podman and metalab with."""
        return {
            "HOME": str(self.home),
            "XDG_RUNTIME_DIR": str(self.home / "run"),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "XDG_CACHE_HOME": str(self.home / ".cache"),
            "METALAB_HOME": str(self.home / ".metalab"),
            "CONTAINER_HOST": self.url,
        }

    def argv(self, *args: str) -> list[str]:
        """``podman`` on this engine's storage, as its account."""
        runtime = ["--runtime", self.oci_runtime] if self.oci_runtime else _oci_runtime()
        podman = ["podman", *runtime, "--storage-driver", self.driver]
        store = self.store or self.home
        podman += ["--root", str(store / self.driver)]  # vfs (a rootless fallback) copies
        # the whole image for every container: a rootless cold `up` took 10 s on it
        podman += ["--runroot", str(store / "run" / "s"), *args]
        env = {k: v for k, v in self.env().items() if k != "CONTAINER_HOST"}  # local, not remote
        return as_user(self.user, env, podman)


def as_user(user: str, env: dict[str, str], argv: list[str]) -> list[str]:
    """``argv`` run as ``user`` (directly when that is us) in a clean environment: PATH and
    ``env`` only (nothing of the caller's HOME, caches or CONTAINER_HOST)."""
    prefix = ["runuser", "-u", user, "--"] if user != pwd.getpwuid(os.geteuid()).pw_name else []
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    return [*prefix, "env", "-i", *(f"{k}={v}" for k, v in (base | env).items()), *argv]


def ensure_rootless_user() -> str:
    """The rootless test account (created with subordinate uids when missing); as a user,
    ourselves."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid()).pw_name
    try:
        pwd.getpwnam(ROOTLESS_USER)
    except KeyError:
        subprocess.run(["useradd", "--create-home", ROOTLESS_USER], check=True)
    for table in ("/etc/subuid", "/etc/subgid"):
        if f"{ROOTLESS_USER}:" not in Path(table).read_text():
            flag = "--add-subuids" if table.endswith("uid") else "--add-subgids"
            subprocess.run(["usermod", flag, "300000-365535", ROOTLESS_USER], check=True)
    return ROOTLESS_USER


def start(
    user: str,
    *,
    name: str | None = None,
    driver: str = "overlay",
    oci_runtime: str | None = None,
    store: Path | None = None,
    images: tuple[str, ...] = IMAGES,
) -> Engine:
    """Start the private engine of ``user`` (under ``STATE/name``, default the user's name)
    and copy ``images`` into it."""
    account = pwd.getpwnam(user)
    home = STATE / (name or user)
    for path in (STATE, home, home / "run"):
        path.mkdir(mode=0o755 if path == STATE else 0o700, exist_ok=True)
        if path != STATE:
            os.chown(path, account.pw_uid, account.pw_gid)
    engine = Engine(user, home, driver=driver, oci_runtime=oci_runtime, store=store)
    engine.socket.unlink(missing_ok=True)
    log = open(home / "service.log", "ab")  # noqa: SIM115 - the engine's output, kept open
    engine.process = subprocess.Popen(
        engine.argv("system", "service", "--time=0", engine.url),
        stdout=log,
        stderr=log,
        start_new_session=True,
        cwd="/",
    )
    deadline = time.monotonic() + 30
    while not engine.socket.exists():
        if engine.process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"podman system service did not start: see {home}/service.log")
        time.sleep(0.05)
    for image in images:
        _copy_image(engine, image)
    return engine


def keep_id_problem(engine: Engine) -> str | None:
    """Why the images cannot run as the account under ``--userns=keep-id`` (None when they can):
    a base image imported with a 0700 ``/`` locks every non-root uid out."""
    uid = pwd.getpwnam(engine.user).pw_uid
    for image in IMAGES:
        argv = ["run", "--rm", "--userns=keep-id", "--user", str(uid), "--network", "none"]
        tried = subprocess.run(
            engine.argv(*argv, "--entrypoint", "/bin/true", image), capture_output=True, text=True
        )
        if tried.returncode != 0:
            why = tried.stderr.strip()[-160:]
            return (
                f"{image} cannot run as uid {uid} under rootless Podman ({why}): "
                "its base image has a 0700 /; make it again with scripts/infra/make-base-image.sh "
                "(ci-setup.sh --docker does) and rebuild"
            )
    return None


def _image_id(argv: list[str]) -> str:
    found = subprocess.run(argv, capture_output=True, text=True)
    return found.stdout.strip().removeprefix("sha256:") if found.returncode == 0 else ""


def _copy_image(engine: Engine, image: str) -> None:
    wanted = _image_id(["docker", "image", "inspect", "--format", "{{.Id}}", image])
    if wanted and wanted == _image_id(
        engine.argv("image", "inspect", "--format", "{{.Id}}", image)
    ):
        return
    saved = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    subprocess.run(engine.argv("load", "-q"), stdin=saved.stdout, check=True, capture_output=True)
    if saved.wait() != 0:
        raise RuntimeError(f"docker save {image} failed")


def stop(engine: Engine) -> None:
    """Remove the engine's containers (on its own storage) and stop it."""
    if engine.store is None:
        subprocess.run(engine.argv("rm", "-af", "-t", "2"), capture_output=True)
    if engine.process is not None:  # its whole session: rootless Podman re-executes itself
        with contextlib.suppress(ProcessLookupError):
            os.killpg(engine.process.pid, signal.SIGTERM)
        engine.process.wait(timeout=30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until nothing of that session is left
            try:
                os.killpg(engine.process.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
    pause = engine.home / "run" / "libpod" / "tmp" / "pause.pid"  # rootless: holds the userns
    try:
        os.kill(int(pause.read_text().strip()), signal.SIGTERM)
    except (OSError, ValueError):
        pass
    pause.unlink(missing_ok=True)


def running(user: str) -> Iterator[Engine]:
    engine = start(user)
    try:
        yield engine
    finally:
        stop(engine)
