"""`metalab server`: host any subset of the gRPC services; `metalab server health`: probe one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from metalab._cli.options import json_option
from metalab._client.token_file import default_socket

if TYPE_CHECKING:
    from pathlib import Path


@click.group(invoke_without_command=True)
@click.option(
    "--services",
    default="registry,tunnel,orchestrator",
    show_default=True,
    help="Comma-separated services to host.",
)
@click.option(
    "--listen",
    default=default_socket,
    show_default="unix:~/.metalab/run/server.sock",
    metavar="ADDR",
    help="unix:PATH (this account only, no token: PATH's directory must be this account's, "
    "mode 0700) or HOST:PORT (a token is required: on loopback one is generated into "
    "~/.metalab/run, where this account's CLI finds it).",
)
@click.option(
    "--shared-socket",
    default=None,
    metavar="unix:PATH",
    help="Also serve other accounts that can reach PATH, with the configured token (this "
    "account's connections there need none). Needs a unix: --listen.",
)
@click.pass_context
def server(ctx: click.Context, services: str, listen: str, shared_socket: str | None) -> None:
    """Run metalab's gRPC services until SIGTERM/SIGINT (graceful shutdown)."""
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    from metalab._client.target import server_token

    names = [name.strip() for name in services.split(",") if name.strip()]
    shared = _absolute(shared_socket) if shared_socket else None
    asyncio.run(_serve(names, _absolute(listen), shared, server_token()))


def _absolute(address: str) -> str:
    """``unix:`` addresses made absolute: the locators name them for clients in any directory."""
    if not address.startswith("unix:"):
        return address
    import os

    return f"unix:{os.path.abspath(address.removeprefix('unix:'))}"


async def _serve(names: list[str], listen: str, shared: str | None, token: str | None) -> None:
    import secrets

    from metalab.errors import UsageError
    from metalab_server.address import check_listen
    from metalab_server.memory import map_large_buffers
    from metalab_server.server import serve_until_signalled, start_owner_server, start_server

    map_large_buffers()  # messages of any caller, refused or not, leave no lasting growth

    tcp = not listen.startswith("unix:")
    if shared is not None and (tcp or not shared.startswith("unix:")):
        raise UsageError("--shared-socket needs unix:PATH and a unix: --listen")
    generate = tcp and not token
    if generate:
        from metalab._client.token_file import runtime_dir

        check_listen(listen, token)  # beyond loopback the token must be configured
        runtime_dir(create=True)  # refused before binding when it is not private
        token = secrets.token_urlsafe(32)
    if tcp:
        running = await start_server(names, listen, token)
        auth = "token required"
    else:
        running = await start_owner_server(names, listen, shared, token)
        auth = "this account only"
        if shared is not None:
            who = "other accounts with the token" if token else "other accounts: no token set"
            auth += f"; {who} on {shared}"
    token_file: Path | None = None
    locators: list[Path] = []
    if generate and token:
        from metalab._client.token_file import write_token

        try:
            token_file = write_token(running.address, token)
        except BaseException:
            await running.stop(grace=0)
            raise
        auth = f"token required, in {token_file}"
    if not tcp:
        from metalab._client.owner_socket import write_locators

        try:
            locators = write_locators(running.address, shared)
        except BaseException:
            await running.stop(grace=0)
            raise
    banner = f"metalab server: {', '.join(names)} on {running.address} ({auth})"
    try:
        await serve_until_signalled(running, on_ready=lambda: click.echo(banner, err=True))
    finally:
        if locators:
            from metalab._client.owner_socket import remove_locators

            remove_locators(locators, running.address)
        if token_file is not None and token:
            from metalab._client.token_file import remove_token

            remove_token(token_file, token)


@server.command()
@click.argument("address", default=default_socket, metavar="[ADDR]")
@click.option("--service", default="", help="A full service name; default: the whole server.")
@click.option("--timeout", default=3.0, show_default=True, help="Seconds to wait for an answer.")
@json_option
def health(address: str, service: str, timeout: float, as_json: bool) -> None:
    """Exit 0 when the server at ADDR reports SERVING (grpc.health.v1; needs no token)."""
    from metalab._client.health import check_health

    status = check_health(address, service, timeout)
    if as_json:
        import json

        click.echo(json.dumps({"address": address, "service": service, "status": status}))
    else:
        click.echo(status)
