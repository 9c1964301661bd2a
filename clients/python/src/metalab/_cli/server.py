"""`metalab server`: host any subset of the gRPC services; `metalab server health`: probe one."""

from __future__ import annotations

import click

from metalab._cli.options import json_option
from metalab._client.token_file import default_socket


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

    from metalab._client.embedded import serve
    from metalab._client.target import server_token

    names = [name.strip() for name in services.split(",") if name.strip()]
    shared = _absolute(shared_socket) if shared_socket else None
    asyncio.run(
        serve(
            names,
            _absolute(listen),
            shared,
            server_token(),
            lambda banner: click.echo(banner, err=True),
        )
    )


def _absolute(address: str) -> str:
    """``unix:`` addresses made absolute: the locators name them for clients in any directory."""
    if not address.startswith("unix:"):
        return address
    import os

    return f"unix:{os.path.abspath(address.removeprefix('unix:'))}"


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
