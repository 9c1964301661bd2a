"""`metalab services up|status|down|logs|rebuild-index`."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from metalab._cli.context import resolve, to_spec
from metalab._cli.options import env_option, json_option, set_option, show_secrets_option
from metalab._cli.progress import Progress

if TYPE_CHECKING:
    from metalab._client.client import MetalabClient


ALL_LINES = -1  # LogsRequest.lines: 0 means the server's default, a negative count all


@click.group()
def services() -> None:
    """Provision, inspect and stop the services of an environment."""


@services.command()
@env_option
@set_option
@json_option
@show_secrets_option
@click.option("--force", is_flag=True, help="Provision anew even if a healthy bundle exists.")
@click.option("--tunnel", is_flag=True, help="Open an SSH tunnel once the services are ready.")
@click.option(
    "--tunnel-port",
    type=click.IntRange(0, 65535),
    default=None,
    metavar="PORT",
    help="With --tunnel: local port for Atlas (default 8000; 0 picks a free one).",
)
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
@click.option(
    "--dry-run", is_flag=True, help="Print the plan (e.g. the batch script); start nothing."
)
def up(
    env_name: str | None,
    overrides: tuple[str, ...],
    as_json: bool,
    show_secrets: bool,
    force: bool,
    tunnel: bool,
    tunnel_port: int | None,
    quiet: bool,
    dry_run: bool,
) -> None:
    """Start the declared services (or reuse healthy ones) and save the bundle."""
    import asyncio

    if tunnel_port is not None and not tunnel:
        raise click.UsageError("--tunnel-port needs --tunnel")
    environment = resolve(env_name, overrides, need_project=True)
    if dry_run:
        click.echo(asyncio.run(_plan(environment)), nl=False)
        return
    progress = Progress(quiet or as_json)
    bundle, reused = None, False
    if not force:
        from metalab._cli.fastpath import healthy_bundle

        bundle = healthy_bundle(environment)
        reused = bundle is not None
    if bundle is None:
        from metalab._cli.interrupt import run_interruptible

        bundle, reused = run_interruptible(
            _up(environment, force, progress),
            "Interrupted again: leaving the clean-up to the next `services up` or `down`.",
        )
    from metalab._cli.render import up_lines  # not at import: `--help` needs no rendering

    for line in up_lines(bundle, reused, environment.name, as_json, show_secrets):
        click.echo(line)
    if tunnel:
        from metalab._cli.tunnel import open_tunnel_for

        open_tunnel_for(environment, bundle, tunnel_port)


async def _up(environment: Any, force: bool, progress: Progress) -> tuple[dict[str, Any], bool]:
    import asyncio

    from metalab._client.client import connect
    from metalab.core.convert import to_dict
    from metalab.v1 import orchestrator_pb2

    request = orchestrator_pb2.UpRequest(spec=to_spec(environment), force=force)
    async with connect(services=("orchestrator",)) as client:
        final = None
        try:
            async for event in client.up(request):
                progress(_describe(event))
                if event.phase in (event.READY, event.REUSED):
                    final = event
        except asyncio.CancelledError:
            click.echo(
                "Interrupted: stopping what this `up` started "
                "(Ctrl+C again to leave that to the next `up`)…",
                err=True,
            )
            raise
        if final is None:
            raise _interrupted("up")
        return to_dict(final.bundle), final.phase == final.REUSED


async def _plan(environment: Any) -> str:
    from metalab._client.client import connect
    from metalab.v1 import orchestrator_pb2

    request = orchestrator_pb2.UpRequest(spec=to_spec(environment), dry_run=True)
    async with connect() as client:
        messages = [event.message async for event in client.up(request)]
    return messages[-1] if messages else ""


def _describe(event: Any) -> str:
    phase = type(event).Phase.Name(event.phase).lower()
    parts = [phase]
    if event.service:
        parts.append(event.service)
    text = " ".join(parts)
    if event.message:
        text += f": {event.message}"
    if event.log_tail:
        text += "\n" + event.log_tail
    return text


def _interrupted(what: str) -> Exception:
    from metalab.errors import MetalabError

    return MetalabError(f"{what} ended without a result")


@services.command()
@env_option
@set_option
@json_option
def status(env_name: str | None, overrides: tuple[str, ...], as_json: bool) -> None:
    """Probe every service of the bundle; exit 0 when all are healthy, 1 otherwise."""
    import asyncio

    from metalab._cli.fastpath import healthy_status

    environment = resolve(env_name, overrides, need_project=True)
    response: Any = healthy_status(environment)
    if response is None:
        response = asyncio.run(_with_client(lambda c: c.status(to_spec(environment))))
    tunnels: list[dict[str, Any]] = []
    if environment.type != "local":
        from metalab._cli.tunnel import detached_tunnels

        tunnels = detached_tunnels(environment.project, environment.name)
    from metalab._cli.render import is_healthy, status_output

    lines = status_output(response, tunnels, environment.project, environment.name, as_json)
    for line in lines:
        click.echo(line)
    sys.exit(0 if is_healthy(response) else 1)


async def _with_client(call: Any) -> Any:
    from metalab._client.client import connect

    async with connect() as client:
        return await call(client)


@services.command()
@env_option
@set_option
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def down(env_name: str | None, overrides: tuple[str, ...], quiet: bool) -> None:
    """Stop the services (reverse dependency order) and remove the bundle."""
    from metalab._cli.interrupt import run_interruptible

    environment = resolve(env_name, overrides, need_project=True)
    progress = Progress(quiet)
    message = run_interruptible(
        _down(environment, progress),
        "Interrupted again: run `metalab services down` to finish stopping.",
    )
    if message == "stopped":
        click.echo(f"Services stopped ({environment.name}).")
    else:
        click.echo(f"Nothing was running ({environment.name}).")


async def _down(environment: Any, progress: Progress) -> str:
    from metalab._client.client import connect

    async with connect() as client:
        final = "stopped"
        async for event in client.down(to_spec(environment)):
            if event.phase == event.STOPPED and not event.service:
                final = event.message or final
            else:
                progress(_describe(event))
        return final


@services.command()
@click.argument("service", required=False, default="")
@env_option
@set_option
@click.option(
    "-n",
    "--lines",
    "--tail",
    "lines",
    type=click.IntRange(min=0),
    default=50,
    show_default=True,
    metavar="N",
    help="Lines of each log to show; 0 shows all (--tail is upstream's name).",
)
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines.")
def logs(
    service: str, env_name: str | None, overrides: tuple[str, ...], lines: int, follow: bool
) -> None:
    """Show the logs of the services (or of SERVICE)."""
    import asyncio

    environment = resolve(env_name, overrides, need_project=True)
    try:
        asyncio.run(_logs(environment, service, lines or ALL_LINES, follow))
    except KeyboardInterrupt:
        pass


async def _logs(environment: Any, service: str, lines: int, follow: bool) -> None:
    from metalab._client.client import connect
    from metalab.v1 import orchestrator_pb2

    request = orchestrator_pb2.LogsRequest(
        spec=to_spec(environment), service=service, lines=lines, follow=follow
    )
    client: MetalabClient
    async with connect() as client:
        async for chunk in client.logs(request):
            prefix = "" if service else f"{chunk.service} | "
            click.echo(f"{prefix}{chunk.line}")


@services.command("rebuild-index")
@env_option
@json_option
@click.pass_context
def rebuild_index(ctx: click.Context, env_name: str | None, as_json: bool) -> None:
    """Rebuild the PostgreSQL run index of the environment's services from its files.

    Upstream's name for `metalab store reindex --env NAME` (the store of the running bundle).
    """
    from metalab._cli.store import reindex

    ctx.invoke(reindex, locator=None, env_name=env_name, as_json=as_json)
