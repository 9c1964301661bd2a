"""Container engines through the Docker SDK: Docker's socket, or Podman's Docker-compatible one.

Addresses: ``DOCKER_HOST`` (else ``unix:///var/run/docker.sock``) for Docker; ``CONTAINER_HOST``
(else ``$XDG_RUNTIME_DIR/podman/podman.sock`` for a normal user, ``/run/podman/podman.sock`` for
root) for Podman. The SDK is imported only when a container runtime is used.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

from metalab.core.errors import ProvisioningFailed

if TYPE_CHECKING:
    import docker

PING_TIMEOUT = 3
PODMAN_DOCKER_API = "1.41"  # what Podman 4 and 5 serve
_PODMAN: set[str] = set()


def engine_url(name: str, environ: Mapping[str, str] | None = None) -> str:
    """The API address of engine ``name`` (``docker`` or ``podman``)."""
    env = os.environ if environ is None else environ
    if name == "docker":
        return env.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if env.get("CONTAINER_HOST"):
        return env["CONTAINER_HOST"]
    runtime_dir = env.get("XDG_RUNTIME_DIR")
    if os.geteuid() != 0 and runtime_dir:
        return f"unix://{runtime_dir}/podman/podman.sock"
    return "unix:///run/podman/podman.sock"


def may_answer(url: str) -> bool:
    """False when the engine at ``url`` certainly does not answer: a Unix socket that is missing,
    refuses, or that this account may not connect to. `probe_engine` would find that out too,
    after importing the Docker SDK (~0.2 s), which a `services down` under ``auto`` then skips."""
    if not url.startswith("unix://"):
        return True
    import socket

    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(PING_TIMEOUT)
        sock.connect(url.removeprefix("unix://"))
    except (FileNotFoundError, PermissionError, ConnectionRefusedError, NotADirectoryError):
        return False
    except OSError:
        return True  # e.g. a slow engine: the SDK's ping decides
    finally:
        sock.close()
    return True


def probe_engine(url: str) -> str:
    """ "" when the engine at ``url`` answers a ping, else why not (one line)."""
    if url.startswith("unix://") and not os.path.exists(url.removeprefix("unix://")):
        return "no socket"
    try:
        client(url).ping()
    except Exception as exc:  # noqa: BLE001 - any failure means "does not answer"
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return ""


@functools.lru_cache(maxsize=4)
def client(url: str) -> docker.DockerClient:
    """A (cached) SDK client of the engine at ``url``.

    Its API version comes from one ``_ping``: Podman's ``/version`` (what the SDK asks by default)
    costs 0.3 s, so Podman — recognised by its ``Libpod-Api-Version`` header — gets the Docker
    API version it implements; Docker's engine is asked for its own.
    """
    import docker

    try:
        engine = docker.DockerClient(base_url=url, timeout=30, version=PODMAN_DOCKER_API)
        api = engine.api
        headers = api._get(f"{api.base_url}/_ping", timeout=PING_TIMEOUT).headers
        if "Libpod-Api-Version" in headers:
            _PODMAN.add(url)
        else:
            api._version = api._retrieve_server_version()
        return engine
    except (docker.errors.DockerException, OSError, ValueError) as exc:
        raise ProvisioningFailed(f"cannot reach the container engine at {url}: {exc}") from exc


def is_podman(url: str) -> bool:
    """Whether the engine at ``url`` is Podman (its Docker-compatible API)."""
    client(url)
    return url in _PODMAN


def storage_warning(url: str) -> str:
    """One line when the Podman engine at ``url`` stores containers with ``vfs`` (a full copy
    of the image for each: a cold `up` takes seconds more); "" otherwise or when it cannot
    say. One ``/info`` call (~0.2 s on Podman): run it beside the start."""
    import docker

    try:
        driver = str(client(url).api.info().get("Driver", ""))
    except (docker.errors.DockerException, OSError, ValueError, ProvisioningFailed):
        return ""
    if driver != "vfs":
        return ""
    return (
        f"warning: the podman engine at {url} uses the vfs storage driver, which copies the "
        "whole image for every container (a cold `up` takes ~10 s): configure overlay "
        '(driver = "overlay" in storage.conf; rootless: fuse-overlayfs or kernel >= 5.11)'
    )
