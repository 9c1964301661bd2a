"""`metalab server`: host any subset of the gRPC services; `metalab server health`: probe one."""

from __future__ import annotations

import click

from metalab._cli.options import json_option

DEFAULT_LISTEN = "127.0.0.1:50051"


@click.group(invoke_without_command=True)
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
@click.pass_context
def server(ctx: click.Context, services: str, listen: str) -> None:
    """Run metalab's gRPC services until SIGTERM/SIGINT (graceful shutdown)."""
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    from metalab._client.target import server_token

    names = [name.strip() for name in services.split(",") if name.strip()]
    asyncio.run(_serve(names, listen, server_token()))


async def _serve(names: list[str], listen: str, token: str | None) -> None:
    from metalab_server.server import serve_until_signalled, start_server

    running = await start_server(names, listen, token)
    auth = "token required" if token else "no token"
    banner = f"metalab server: {', '.join(names)} on {running.address} ({auth})"
    await serve_until_signalled(running, on_ready=lambda: click.echo(banner, err=True))


@server.command()
@click.argument("address", default=DEFAULT_LISTEN, metavar="[ADDR]")
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
