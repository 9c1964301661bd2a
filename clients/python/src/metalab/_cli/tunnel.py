"""`metalab tunnel`: forward the services of a remote bundle to localhost.

Tunnels always run on the user's machine (their local ports must be here): a foreground tunnel
lives in this process (the tunnel servicer embedded, still spoken to over gRPC); ``--detach``
hands it to a per-user tunnel daemon (`metalab server --services tunnel` on a private Unix
socket, started on demand) that `tunnel list` and `tunnel close` manage.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from metalab._cli.context import resolve
from metalab._cli.options import env_option, json_option, set_option
from metalab.errors import BundleNotFound, ConfigError, TunnelError

if TYPE_CHECKING:
    from metalab._client.target import ServerTarget
    from metalab._config.resolve import Environment
    from metalab.v1 import tunnel_pb2

ATLAS_LOCAL_PORT = 8000
DAEMON_START_TIMEOUT = 10.0


@click.group(invoke_without_command=True)
@env_option
@set_option
@click.option("--port", type=int, default=None, help="Local port for Atlas (0: pick a free one).")
@click.option("--detach", is_flag=True, help="Hand the tunnel to the tunnel service and return.")
@click.option("--accept-new-host-key", is_flag=True, help="Trust and record an unknown host key.")
@click.pass_context
def tunnel(
    ctx: click.Context,
    env_name: str | None,
    overrides: tuple[str, ...],
    port: int | None,
    detach: bool,
    accept_new_host_key: bool,
) -> None:
    """Forward the environment's remote services to localhost (Ctrl+C closes)."""
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    environment = resolve(env_name, overrides)
    bundle = _read_bundle(environment)
    spec = tunnel_spec(environment, bundle, port, detach, accept_new_host_key)
    atlas = bundle.get("services", {}).get("atlas")
    if detach:
        asyncio.run(_open_detached(spec, atlas))
    else:
        _run_foreground(spec, atlas)


def open_tunnel_for(
    environment: Environment, bundle: dict[str, Any], port: int | None = None
) -> None:
    """`services up --tunnel`: a foreground tunnel for a bundle that was just started or reused."""
    if environment.type == "local":
        click.echo("Services run on this machine: no tunnel needed.", err=True)
        return
    atlas = bundle.get("services", {}).get("atlas")
    _run_foreground(tunnel_spec(environment, bundle, port, False, False), atlas)


def _read_bundle(environment: Environment) -> dict[str, Any]:
    from metalab.core.bundle.files import bundle_path, read_bundle

    path = bundle_path(environment.project, environment.name, environment.file_root)
    bundle = read_bundle(path, environment.project, environment.name)
    if bundle is None:
        raise BundleNotFound(
            f"no services running for {environment.project} ({environment.name}); "
            "run `metalab services up` first"
        )
    return bundle


def tunnel_spec(
    environment: Environment,
    bundle: dict[str, Any],
    port: int | None,
    detach: bool,
    accept_new_host_key: bool,
) -> tunnel_pb2.TunnelSpec:
    """The TunnelSpec for a bundle: Atlas first (on ``port``), then the other services."""
    from metalab.v1 import tunnel_pb2, types_pb2

    if environment.type == "local":
        raise TunnelError("services of a local environment run on this machine: no tunnel needed")
    settings = environment.settings
    gateway = settings.get("gateway")
    if not gateway:
        raise ConfigError(
            "a tunnel needs a gateway", key=f"environments.{environment.name}.gateway"
        )
    targets = sorted(
        bundle.get("tunnel_targets", []), key=lambda t: (t.get("service") != "atlas", t["service"])
    )
    if not targets:
        raise TunnelError("the bundle lists no services to forward")
    forwards = []
    for target in targets:
        local = (ATLAS_LOCAL_PORT if port is None else port) if target["service"] == "atlas" else 0
        forwards.append(
            tunnel_pb2.Forward(
                service=target["service"],
                local_port=local,
                target=types_pb2.TunnelTarget(**target),
            )
        )
    ssh = tunnel_pb2.SshTarget(
        gateway=str(gateway),
        user=str(settings.get("user") or ""),
        ssh_key=str(settings.get("ssh_key") or ""),
        mode=str(settings.get("tunnel") or "jump"),
        data_path=str(settings.get("data_path") or ""),
        accept_new_host_key=accept_new_host_key,
    )
    return tunnel_pb2.TunnelSpec(
        project=environment.project,
        environment=environment.name,
        ssh=ssh,
        forwards=forwards,
        detach=detach,
    )


def _describe(event: Any, atlas: dict[str, Any] | None = None) -> list[str]:
    """Human lines for a tunnel event; Atlas's URL carries its login token (see render)."""
    kind = type(event).Kind.Name(event.kind)
    if kind == "ESTABLISHED":
        ordered = sorted(event.forwards, key=lambda f: f.service != "atlas")
        return [
            f"Tunnel established: {_url(f, atlas)}"
            + ("" if f.service == "atlas" else f" ({f.service})")
            for f in ordered
        ]
    if kind == "RECONNECTING":
        return [f"reconnecting… {event.message}".rstrip()]
    if kind == "RESTORED":
        return ["restored"]
    if kind == "FAILED":
        return [f"tunnel failed: {event.message}"]
    return []


def _url(forward: Any, atlas: dict[str, Any] | None) -> str:
    from metalab._cli.render import atlas_login_url

    scheme = forward.target.scheme or "tcp"
    url = f"{scheme}://127.0.0.1:{forward.local_port}"
    return atlas_login_url(url, atlas) if forward.service == "atlas" and atlas else url


def _run_foreground(spec: tunnel_pb2.TunnelSpec, atlas: dict[str, Any] | None) -> None:
    import asyncio

    if asyncio.run(_foreground(spec, atlas)):
        click.echo("Tunnel closed.", err=True)


async def _foreground(spec: tunnel_pb2.TunnelSpec, atlas: dict[str, Any] | None) -> bool:
    """Run the tunnel until it ends or Ctrl+C/SIGTERM; True when a signal closed it.

    The signal only ends the stream: leaving ``connect()`` then stops the embedded tunnel
    service, which closes the tunnel completely (listeners, SSH, any ssh child) before we exit.
    """
    import asyncio
    import signal

    from metalab._client.client import connect
    from metalab._client.target import ServerTarget

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with connect(ServerTarget(None)) as client:
            stream = asyncio.ensure_future(_print_events(client.open_tunnel(spec), atlas))
            stopped = asyncio.ensure_future(stop.wait())
            await asyncio.wait({stream, stopped}, return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
            if not stream.done():
                stream.cancel()
                await asyncio.gather(stream, return_exceptions=True)
                return True
            stream.result()
            return False
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def _print_events(events: Any, atlas: dict[str, Any] | None) -> None:
    async for event in events:
        for line in _describe(event, atlas):
            click.echo(line)
        if type(event).Kind.Name(event.kind) == "ESTABLISHED":
            click.echo("Press Ctrl+C to close.")
        if type(event).Kind.Name(event.kind) == "FAILED":
            raise TunnelError(event.message)


def daemon_address() -> str:
    from metalab.core.bundle.files import home_services_dir

    return f"unix:{home_services_dir().parent / 'run' / 'tunnel.sock'}"


def _daemon_target(start: bool) -> ServerTarget | None:
    import subprocess

    from metalab._client.target import ServerTarget

    address = daemon_address()
    socket_path = Path(address.removeprefix("unix:"))
    if socket_path.exists() and _daemon_alive(socket_path):
        return ServerTarget(address)
    if not start:
        return None
    socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = socket_path.with_name("tunnel-daemon.log")
    with open(log, "ab") as output:  # noqa: PTH123 - inherited by the daemon
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "metalab._cli.main",
                "server",
                "--services",
                "tunnel",
                "--listen",
                address,
            ],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            start_new_session=True,
            env={k: v for k, v in os.environ.items() if not k.startswith("METALAB_TOKEN")},
        )
    deadline = time.monotonic() + DAEMON_START_TIMEOUT
    while time.monotonic() < deadline:
        if socket_path.exists() and _daemon_alive(socket_path):
            return ServerTarget(address)
        time.sleep(0.05)
    raise TunnelError(f"the tunnel daemon did not start; see {log}")


def _daemon_alive(socket_path: Path) -> bool:
    import socket

    with socket.socket(socket.AF_UNIX) as probe:
        try:
            probe.connect(str(socket_path))
        except OSError:
            return False
    return True


async def _open_detached(spec: tunnel_pb2.TunnelSpec, atlas: dict[str, Any] | None) -> None:
    from metalab._client.client import connect

    async with connect(_daemon_target(start=True)) as client:
        async for event in client.open_tunnel(spec):
            for line in _describe(event, atlas):
                click.echo(line)
            name = type(event).Kind.Name(event.kind)
            if name == "FAILED":
                raise TunnelError(event.message)
            if name == "ESTABLISHED":
                click.echo(f"Detached as {event.tunnel_id}; close with `metalab tunnel close`.")
                return


@tunnel.command("list")
@json_option
def list_(as_json: bool) -> None:
    """List detached tunnels."""
    import asyncio

    tunnels = asyncio.run(_list())
    if as_json:
        import json

        click.echo(json.dumps(tunnels))
        return
    if not tunnels:
        click.echo("No detached tunnels.")
    for item in tunnels:
        forwards = ", ".join(
            f"{f['service']}→127.0.0.1:{f['local_port']}" for f in item["forwards"]
        )
        click.echo(
            f"  {item['id']}  {item['project']}/{item['environment']}  {item['state']}  {forwards}"
        )


def detached_tunnels(project: str, environment: str) -> list[dict[str, Any]]:
    """The detached tunnels of one environment (none when no tunnel daemon runs)."""
    import asyncio

    return [
        t
        for t in asyncio.run(_list())
        if t["project"] == project and t["environment"] == environment
    ]


async def _list() -> list[dict[str, Any]]:
    from metalab._client.client import connect

    target = _daemon_target(start=False)
    if target is None:
        return []
    async with connect(target) as client:
        response = await client.list_tunnels()
    return [
        {
            "id": t.tunnel_id,
            "project": t.project,
            "environment": t.environment,
            "state": t.state,
            "forwards": [{"service": f.service, "local_port": f.local_port} for f in t.forwards],
        }
        for t in response.tunnels
    ]


@tunnel.command("close")
@click.argument("tunnel_id", required=False, default="")
@click.option("--all", "all_", is_flag=True, help="Close every detached tunnel.")
def close(tunnel_id: str, all_: bool) -> None:
    """Close a detached tunnel (or all of them)."""
    import asyncio

    if not tunnel_id and not all_:
        raise click.UsageError("give a TUNNEL_ID or --all")
    closed = asyncio.run(_close(tunnel_id, all_))
    click.echo(f"Closed {closed} tunnel{'s' if closed != 1 else ''}.")


async def _close(tunnel_id: str, all_: bool) -> int:
    from metalab._client.client import connect

    target = _daemon_target(start=False)
    if target is None:
        return 0
    async with connect(target) as client:
        return await client.close_tunnel(tunnel_id, all_)
