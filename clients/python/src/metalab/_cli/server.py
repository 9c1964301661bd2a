"""`metalab server`: host any subset of the gRPC services in one process."""

from __future__ import annotations

import asyncio

import click

from metalab._client.target import server_token

DEFAULT_LISTEN = "127.0.0.1:50051"


@click.command()
@click.option(
    "--services",
    default="registry,tunnel,orchestrator",
    show_default=True,
    help="Comma-separated services to host.",
)
@click.option(
    "--listen",
    default=DEFAULT_LISTEN,
    show_default=True,
    metavar="ADDR",
    help="HOST:PORT or unix:PATH. Non-loopback addresses require a token.",
)
def server(services: str, listen: str) -> None:
    """Run metalab's gRPC services until SIGTERM/SIGINT (graceful shutdown)."""
    names = [name.strip() for name in services.split(",") if name.strip()]
    asyncio.run(_serve(names, listen, server_token()))


async def _serve(names: list[str], listen: str, token: str | None) -> None:
    from metalab_server.server import serve_until_signalled, start_server

    running = await start_server(names, listen, token)
    auth = "token required" if token else "no token"
    banner = f"metalab server: {', '.join(names)} on {running.address} ({auth})"
    await serve_until_signalled(running, on_ready=lambda: click.echo(banner, err=True))
