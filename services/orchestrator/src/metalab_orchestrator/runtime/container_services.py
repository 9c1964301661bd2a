"""The container runtime's side of the local backend: start PostgreSQL and Atlas as containers
and describe them as bundle entries (the same fields as native ones, plus the container)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metalab.core.errors import ConfigError, ProvisioningFailed
from metalab_orchestrator.plugins import atlas as atlas_plugin
from metalab_orchestrator.plugins import now
from metalab_orchestrator.plugins.atlas import launch as atlas_launch
from metalab_orchestrator.plugins.atlas import probe_http
from metalab_orchestrator.plugins.postgres import probe_postgres
from metalab_orchestrator.runtime import containers as ct
from metalab_orchestrator.runtime.accounts import Account, resolve_service_account
from metalab_orchestrator.runtime.pg_handle import PostgresSettings
from metalab_orchestrator.runtime.readiness import wait_ready
from metalab_orchestrator.runtime.secret_files import write_secret

PORT_ATTEMPTS = 3


def service_account(run_as: str | None) -> Account:
    """The account the containers run as: ``run_as`` when we are root, else ourselves."""
    account = resolve_service_account(run_as, service="PostgreSQL", key="services.postgres.run_as")
    return account or Account.current()


def _prepare_dirs(data_dir: Path, run_dir: Path, account: Account) -> None:
    """The data and run directories, 0700 and the account's (as native PostgreSQL has them)."""
    from metalab_orchestrator.runtime.pg_template import make_dirs
    from metalab_orchestrator.runtime.postgres import prepare_run_dir, require_owner

    make_dirs(data_dir.parent)
    try:
        data_dir.mkdir(mode=0o700)
        os.chown(data_dir, account.uid, account.gid)
    except FileExistsError:
        require_owner(data_dir, account)
    prepare_run_dir(run_dir, account if os.geteuid() == 0 else None)


def _touch_log(path: Path, account: Account) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
    try:
        if os.geteuid() == 0:
            os.fchown(fd, account.uid, account.gid)
    finally:
        os.close(fd)


async def start_postgres(
    url: str,
    owner: ct.Owner,
    settings: PostgresSettings,
    *,
    image: str,
    data_dir: Path,
    run_dir: Path,
    pick_port: Callable[[], int],
    record: Callable[[dict[str, Any]], Any],
) -> dict[str, Any]:
    """Start the PostgreSQL container and return its bundle entry once ``SELECT 1`` answers.

    ``record`` is awaited with the entry as soon as the container exists (crash safety).
    """
    from metalab_orchestrator.runtime.pg_layout import PASSFILE_NAME, PASSWORD_NAME
    from metalab_orchestrator.runtime.postgres import server_password
    from metalab_orchestrator.runtime.secret_files import pgpass_line

    if settings.auth_method == "trust":  # the engine's bridge reaches the server, not only we
        raise ConfigError(
            "trust authentication needs the native runtime: in a container the server is "
            "reachable from the engine's network, not only from 127.0.0.1",
            key="services.postgres.auth_method",
        )
    account = service_account(settings.run_as)
    await asyncio.to_thread(ct.require_image, url, image, "postgres")
    data_dir, run_dir = data_dir.absolute(), run_dir.absolute()
    _prepare_dirs(data_dir, run_dir, account)
    owner_arg = account if os.geteuid() == 0 else None
    password_file, passfile = run_dir / PASSWORD_NAME, run_dir / PASSFILE_NAME
    log_path = run_dir / "postgres.log"
    password = server_password(settings, password_file)
    write_secret(password_file, password, owner=owner_arg)
    _touch_log(log_path, account)
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = settings.port or pick_port()
        try:
            container = await asyncio.to_thread(
                ct.run_postgres,
                url,
                owner,
                image=image,
                account=account,
                port=port,
                data_dir=data_dir.resolve(),
                run_dir=run_dir.resolve(),
                user=settings.user,
                database=settings.database,
                auth_method=settings.auth_method,
            )
            break
        except ct.PortTaken as exc:
            if settings.port is not None or attempt == PORT_ATTEMPTS:
                key = " (services.postgres.port)" if settings.port is not None else ""
                raise ProvisioningFailed(f"{exc}{key}") from None
    write_secret(
        passfile,
        pgpass_line(ct.LOOPBACK, port, settings.database, settings.user, password),
        owner=owner_arg,
    )
    entry: dict[str, Any] = {
        "runtime": "container",
        "engine": url,
        "container_id": container.id,
        "container_name": container.name,
        "image": image,
        "host": ct.LOOPBACK,
        "port": port,
        "data_dir": str(data_dir),
        "socket_dir": str(run_dir),
        "secret_ref": str(password_file),
        "passfile": str(passfile),
        "log_path": str(log_path),
        "database": settings.database,
        "user": settings.user,
        "started_at": now(),
    }
    await record(entry)

    async def check() -> tuple[bool, str]:
        return await probe_postgres(
            ct.LOOPBACK, port, settings.user, settings.database, str(passfile)
        )

    async def alive() -> bool:
        return await asyncio.to_thread(ct.running, url, entry, owner, "postgres")

    await wait_ready("postgres", settings.start_timeout, log_path, check, alive)
    return entry


async def start_atlas(
    url: str,
    owner: ct.Owner,
    *,
    image: str,
    account: Account,
    port: int,
    locator: str,
    bundle_path: Path,
    readable: list[Path],
    start_timeout: float,
    record: Callable[[dict[str, Any]], Any],
) -> dict[str, Any]:
    """Start Atlas in a container on the host's network (127.0.0.1 only); its bundle entry."""
    await asyncio.to_thread(ct.require_image, url, image, "atlas")
    atlas_dir = owner.own_mount("atlas")
    atlas_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if os.geteuid() == 0:
        os.chown(atlas_dir, account.uid, account.gid)
    log_path = atlas_dir / "atlas.log"
    _touch_log(log_path, account)
    # A token even on loopback; the container reads it from its 0600 file (not from its
    # environment, which `docker inspect` shows).
    token, token_file = atlas_plugin.new_token(
        atlas_dir, owner=account if os.geteuid() == 0 else None
    )
    container = await asyncio.to_thread(
        ct.run_atlas,
        url,
        owner,
        image=image,
        account=account,
        argv=atlas_plugin.atlas_args(locator, ct.LOOPBACK, port, bundle_path),
        log_path=log_path,
        readable=[*readable, bundle_path.parent],
        environment={"METALAB_ATLAS_TOKEN_FILE": str(token_file)},
    )
    entry = atlas_plugin.atlas_entry(
        ct.LOOPBACK,
        port,
        f"http://{ct.LOOPBACK}:{port}",
        token_file,
        log_path,
        runtime="container",
        engine=url,
        container_id=container.id,
        container_name=container.name,
        image=image,
    )
    await record(entry)

    async def alive() -> bool:
        return await asyncio.to_thread(ct.running, url, entry, owner, "atlas")

    await atlas_launch.wait_atlas(port, token, start_timeout, log_path, alive)
    if (await probe_http(ct.LOOPBACK, port))[0]:  # fail closed with an image that ignores it
        raise ProvisioningFailed(
            f"Atlas in image {image} answers without its token (an image older than "
            "METALAB_ATLAS_TOKEN_FILE): rebuild it with scripts/build-image.sh"
        )
    return entry
