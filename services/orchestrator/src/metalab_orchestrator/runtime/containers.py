"""PostgreSQL and Atlas as containers of a Docker-compatible engine (the `docker`/`podman` runtime).

Identity: every container carries labels naming its project, environment, services directory and
service, and a name derived from them. Labels are checked, never trusted alone: a container is
this environment's only when its labels match *and* its bind mounts are this environment's
directories (PostgreSQL's data directory, Atlas's log directory). A container with our name that
fails the check is an error, never removed.

Data: the cluster lives in ``{services_dir}/postgres/data`` (bind-mounted, owned by the account
the server runs as, as with native binaries), so switching runtime keeps it. Secrets: the password
is a 0600 file in the run directory, mounted into the container and read there (see
``scripts/postgres-image/entrypoint.sh``); it is never in the container's environment or argv.
Ports are published on 127.0.0.1 only; Atlas uses the host's network and binds 127.0.0.1.

Rootless Podman maps container uids onto the user's subordinate uids: there the containers run
with ``--userns=keep-id`` (the user's uid is the same inside), so whatever the server writes in
the bind mounts is the user's on the host, never a subuid's. On Podman every container gets
the caller's open-files and process limits, at most 32768 (rootful Podman would otherwise ask
for more than a root without CAP_SYS_RESOURCE may grant).
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import resource
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metalab.core.errors import ProvisioningFailed
from metalab_orchestrator.runtime.engines import client, is_podman

if TYPE_CHECKING:
    from docker.models.containers import Container

    from metalab_orchestrator.runtime.accounts import Account

LOOPBACK = "127.0.0.1"
LABEL = "io.metalab"
POSTGRES_IMAGE = "metalab-postgres:latest"
ATLAS_IMAGE = "metalab:latest"
PG_DATA = "/var/lib/metalab/data"
PG_RUN = "/run/metalab"
_BUILD_HINT = {
    "postgres": "scripts/build-postgres-image.sh",
    "atlas": "scripts/build-image.sh",
}
ULIMIT_CAP = 32768  # open files and processes: plenty for PostgreSQL or Atlas
_PORT_CLASH = ("port is already allocated", "address already in use")


@dataclass(frozen=True)
class Owner:
    """Whose containers: one project's environment, by its services directory."""

    project: str
    environment: str
    services_dir: Path  # resolved: the engine reports bind-mount sources with symlinks resolved

    def labels(self, service: str) -> dict[str, str]:
        return {
            f"{LABEL}.project": self.project,
            f"{LABEL}.environment": self.environment,
            f"{LABEL}.services-dir": str(self.services_dir),
            f"{LABEL}.service": service,
        }

    def name(self, service: str) -> str:
        slug = re.sub(r"[^a-zA-Z0-9_.-]", "-", f"{self.project}-{self.environment}")[:40]
        digest = hashlib.sha256(str(self.services_dir).encode()).hexdigest()[:10]
        return f"metalab-{slug}-{service}-{digest}"

    def own_mount(self, service: str) -> Path:
        """The bind-mount source only this environment's container of ``service`` has."""
        if service == "postgres":
            return self.services_dir / "postgres" / "data"
        return self.services_dir / service


def is_ours(container: Container, owner: Owner, service: str) -> bool:
    """Labels match and the container mounts this environment's own directory."""
    labels: Mapping[str, str] = container.labels or {}
    if any(labels.get(k) != v for k, v in owner.labels(service).items()):
        return False
    mounts = container.attrs.get("Mounts") or []
    wanted = str(owner.own_mount(service))
    return any(m.get("Type") == "bind" and m.get("Source") == wanted for m in mounts)


def _get(url: str, ref: str) -> Container | None:
    import docker

    try:
        return client(url).containers.get(ref)
    except docker.errors.NotFound:
        return None


def running(url: str, entry: Mapping[str, Any], owner: Owner, service: str) -> bool:
    """Whether the container a bundle entry records runs and is this environment's."""
    import docker

    try:
        container = _get(url, str(entry.get("container_id", "")))
    except docker.errors.DockerException:
        return False
    return (
        container is not None
        and container.status == "running"
        and is_ours(container, owner, service)
    )


def remove(url: str, ref: str, owner: Owner, service: str, grace: float) -> bool:
    """Stop (the image's stop signal, SIGKILL after ``grace``) and remove one of our containers;
    False when there was none.

    A container under ``ref`` that is not this environment's is left alone: an error.
    """
    import docker

    container = _get(url, ref)
    if container is None:
        return False
    if not is_ours(container, owner, service):
        raise ProvisioningFailed(
            f"container {container.name} is not {owner.project}/{owner.environment}'s {service} "
            "(labels or mounts differ): left alone; remove or rename it"
        )
    try:
        if container.status in ("running", "restarting", "paused"):
            container.stop(timeout=max(1, int(grace)))
        container.remove(force=True)
    except docker.errors.NotFound:
        return False
    return True


def remove_leftovers(url: str, owner: Owner, grace: float) -> int:
    """Remove every container of this environment (a crashed ``up`` may not have recorded it);
    how many there were."""
    found = client(url).containers.list(
        all=True, filters={"label": f"{LABEL}.services-dir={owner.services_dir}"}
    )
    removed = 0
    for container in found:
        service = (container.labels or {}).get(f"{LABEL}.service", "")
        if is_ours(container, owner, service):
            removed += remove(url, container.id or "", owner, service, grace)
    for service in ("atlas", "postgres"):
        removed += remove(url, owner.name(service), owner, service, grace)
    return removed


def require_image(url: str, image: str, service: str) -> None:
    """A one-line error, saying how to build it, when ``image`` is not on the engine."""
    import docker

    try:
        client(url).images.get(image)
    except docker.errors.ImageNotFound:
        key = f"services.{service}.image"
        raise ProvisioningFailed(
            f"image {image} not found on the engine at {url} (no registry is used): build it "
            f"with {_BUILD_HINT[service]} or set {key}"
        ) from None


def _user(account: Account) -> str:
    return f"{account.uid}:{account.gid}"


@functools.lru_cache(maxsize=4)
def rootless(url: str) -> bool:
    """Whether the engine at ``url`` runs rootless (its containers' uids are subordinate ones).

    Podman's socket is its account's (a rootless one is never root's); over TCP its own
    ``libpod/info`` says (0.3 s). Docker says so in its security options.
    """
    api = client(url).api
    if is_podman(url) and url.startswith("unix://"):
        return os.stat(url.removeprefix("unix://")).st_uid != 0
    if is_podman(url):
        info = api._result(api._get(api._url("/libpod/info")), json=True)
        return bool(info.get("host", {}).get("security", {}).get("rootless"))
    options = api.info().get("SecurityOptions") or []
    return any("name=rootless" in str(option) for option in options)


def _isolation(url: str) -> dict[str, Any]:
    """The user-namespace and limits options every container of ours gets on ``url``."""
    if not is_podman(url):
        if rootless(url):
            raise ProvisioningFailed(
                f"the engine at {url} is rootless Docker: its containers would write the data "
                "directory as a subordinate uid; use rootful Docker or rootless Podman"
            )
        return {}
    options: dict[str, Any] = {"ulimits": _podman_ulimits()}
    if rootless(url):
        options["userns_mode"] = "keep-id"
    return options


def _create(url: str, image: str, **kwargs: Any) -> Container:
    """``containers.create`` with `_isolation`'s options; the SDK refuses every user namespace
    but ``host``, so ``keep-id`` is set on the host config it builds."""
    from docker.models.containers import _create_container_args

    engine = client(url)
    options = _isolation(url)
    userns = options.pop("userns_mode", None)
    args = _create_container_args(
        {"image": image, "version": engine.api._version, **kwargs, **options}
    )
    if userns:
        args["host_config"]["UsernsMode"] = userns
    created = engine.api.create_container(**args)
    return engine.containers.get(created["Id"])


def _podman_ulimits() -> list[Any]:
    """Limits no larger than ours (capped at `ULIMIT_CAP`): rootful Podman asks for 1048576
    files and 4194304 processes, which a root without CAP_SYS_RESOURCE cannot grant."""
    import docker

    limits = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        soft, hard = (
            ULIMIT_CAP if v == resource.RLIM_INFINITY else min(v, ULIMIT_CAP)
            for v in resource.getrlimit(which)
        )
        limits.append(docker.types.Ulimit(name=name, soft=min(soft, hard), hard=hard))
    return limits


def run_postgres(
    url: str,
    owner: Owner,
    *,
    image: str,
    account: Account,
    port: int,
    data_dir: Path,
    run_dir: Path,
    user: str,
    database: str,
    auth_method: str,
) -> Container:
    """Create and start the PostgreSQL container; returns at once (readiness is the caller's).

    Started as root only to name the account inside the container, the entrypoint runs the
    server as ``account``. Raises `PortTaken` when the engine cannot publish ``port``.
    """
    import docker

    container = _create(
        url,
        image,
        name=owner.name("postgres"),
        labels=owner.labels("postgres"),
        user="0:0",  # the entrypoint's root (keep-id would start it as the account)
        environment={
            "METALAB_UID": str(account.uid),
            "METALAB_GID": str(account.gid),
            "METALAB_PG_USER": user,
            "METALAB_PG_DATABASE": database,
            "METALAB_PG_AUTH": auth_method,
        },
        volumes={
            str(data_dir): {"bind": PG_DATA, "mode": "rw"},
            str(run_dir): {"bind": PG_RUN, "mode": "rw"},
        },
        ports={"5432/tcp": (LOOPBACK, port)},
        stop_signal="SIGINT",
        detach=True,
        init=False,
    )
    try:
        _start(url, container, "PostgreSQL")
    except docker.errors.APIError as exc:
        if any(marker in str(exc) for marker in _PORT_CLASH):
            raise PortTaken(port) from exc
        raise ProvisioningFailed(f"cannot start the PostgreSQL container: {exc}") from exc
    return container


def _start(url: str, container: Container, what: str) -> None:
    """Start ``container``; removed again when it cannot start, and a failure of the engine's
    OCI runtime (crun on a hybrid cgroup host) is one line saying what to do."""
    import docker

    try:
        container.start()
    except docker.errors.APIError as exc:
        container.remove(force=True)
        problem = oci_runtime_problem(url, str(exc))
        if problem:
            raise ProvisioningFailed(f"cannot start the {what} container: {problem}") from None
        raise


def oci_runtime_problem(url: str, error: str) -> str:
    """What to do when ``error`` (an engine's answer to a start) is its OCI runtime's failure
    rather than the container's; "" otherwise. Podman's crun refuses hybrid cgroup v1/v2 hosts
    ("crun: cgroups in hybrid mode not supported"): runc runs there."""
    found = re.search(r"(?:OCI runtime[^:]*: )?((?:crun|runc): [^\n\"]+)", error)
    if found is None and "OCI runtime" not in error:
        return ""
    why = (found.group(1) if found else error.splitlines()[0]).strip().rstrip(".")
    why = re.sub(r": OCI [a-z ]+$", "", why)  # Podman's classification, said in the line
    engine = "podman" if is_podman(url) else "docker"
    if engine == "podman" and why.startswith("crun:") and "cgroup" in why:
        return (
            f"the OCI runtime crun of the podman engine at {url} fails on this host ({why}): "
            'set runtime = "runc" in the [engine] section of containers.conf '
            "(/etc/containers/containers.conf; rootless: ~/.config/containers/containers.conf)"
            " and restart the Podman service"
        )
    return f"the OCI runtime of the {engine} engine at {url} fails on this host ({why})"


class PortTaken(Exception):
    """The engine could not publish a port (another process took it first)."""

    def __init__(self, port: int) -> None:
        super().__init__(f"port {port} on {LOOPBACK} is already in use")
        self.port = port


def run_atlas(
    url: str,
    owner: Owner,
    *,
    image: str,
    account: Account,
    argv: list[str],
    log_path: Path,
    readable: list[Path],
    environment: dict[str, str] | None = None,
) -> Container:
    """Create and start Atlas (``argv`` after the interpreter) on the host's network.

    ``readable`` are mounted read-only at their own paths (the store, the passfile, the bundle;
    symlinks resolved on the host side); the log directory is writable. Output is appended to
    ``log_path``.
    """
    from metalab_orchestrator.plugins.atlas import atlas_command

    volumes = {str(p.resolve()): {"bind": str(p), "mode": "ro"} for p in _outermost(readable)}
    volumes[str(log_path.parent)] = {"bind": str(log_path.parent), "mode": "rw"}
    container = _create(
        url,
        image,
        entrypoint=["/bin/sh", "-c", 'exec "$@" >>"$0" 2>&1', str(log_path)],
        command=atlas_command("python", argv),
        name=owner.name("atlas"),
        labels=owner.labels("atlas"),
        user=_user(account),
        environment={"HOME": "/tmp", "USER": account.name, **(environment or {})},
        volumes=volumes,
        network_mode="host",
        detach=True,
    )
    _start(url, container, "Atlas")
    return container


def _outermost(paths: list[Path]) -> list[Path]:
    """Existing ``paths`` with those inside another one dropped."""
    present = sorted({p.absolute() for p in paths if p.exists()}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for path in present:
        if not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept


def exit_detail(url: str, ref: str) -> str:
    """Why a container is not running (its state), for an error message."""
    container = _get(url, ref)
    if container is None:
        return "the container is gone"
    state = container.attrs.get("State") or {}
    return f"container {state.get('Status', '?')} (exit code {state.get('ExitCode', '?')})"


def wait_running(url: str, ref: str, timeout: float = 5.0) -> bool:
    """Whether the container reaches ``running`` (and is not already gone) within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        container = _get(url, ref)
        if container is None or container.status == "exited":
            return False
        if container.status == "running":
            return True
        time.sleep(0.02)
    return False
