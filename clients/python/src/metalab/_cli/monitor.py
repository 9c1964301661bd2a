"""`metalab monitor --workspace ID`: follow a remote workspace's services over SSH.

Every ``--interval`` seconds it runs ``metalab services status --json`` on the workspace's
host (the same SSH command line as `metalab --workspace ID ...`) and prints what changed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from metalab._cli.options import env_option, json_option
from metalab._cli.remote import remote_options

Snapshot = dict[str, str]


def snapshot(returncode: int, stdout: str, stderr: str) -> Snapshot:
    """``{subject: state}`` from one remote status call (pure)."""
    document: Any = None
    for line in reversed(stdout.strip().splitlines()):
        try:
            document = json.loads(line)
            break
        except ValueError:
            continue
    if not isinstance(document, dict):
        lines = stderr.strip().splitlines()
        reason = lines[-1] if lines else f"exit {returncode}, no status"
        return {"remote": f"unavailable: {reason}"}
    if not document.get("found"):
        return {"services": "not running"}
    out: Snapshot = {}
    for service in document.get("services") or []:
        health = "healthy" if service.get("healthy") else "unhealthy"
        where = service.get("url") or f"{service.get('host')}:{service.get('port')}"
        state = service.get("state") or ""
        detail = service.get("detail") if not service.get("healthy") else ""
        text = " ".join(p for p in (health, state, where) if p)
        out[f"service {service.get('name')}"] = text + (f" — {detail}" if detail else "")
    if document.get("job_state"):
        out["job"] = str(document["job_state"])
    return out


def changes(previous: Snapshot | None, current: Snapshot) -> list[str]:
    """Lines describing what differs between two snapshots (pure)."""
    previous = previous or {}
    lines = [f"{key}: {value}" for key, value in current.items() if previous.get(key) != value]
    lines += [f"{key}: gone" for key in previous if key not in current]
    return lines


@click.command()
@click.option(
    "--workspace",
    "workspace_id",
    required=True,
    metavar="ID",
    help="Remote workspace (with ssh: settings) to monitor.",
)
@env_option
@remote_options
@click.option(
    "--interval",
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    type=click.FloatRange(min=0.05),
    help="Seconds between polls.",
)
@click.option(
    "--count",
    type=click.IntRange(min=1),
    default=None,
    help="Stop after this many polls (default: until Ctrl+C).",
)
@json_option
def monitor(
    workspace_id: str,
    env_name: str | None,
    interval: float,
    count: int | None,
    as_json: bool,
    **remote: Any,
) -> None:
    """Stream the status of a remote workspace's services, printing changes.

    With --json, one JSON object per poll: time, workspace, status and what changed.
    """
    import subprocess

    from metalab._cli.remote import remote_workspace, ssh_argv

    workspace = remote_workspace(workspace_id)
    assert workspace.ssh is not None
    args = ["services", "status", "--json", *(["--env", env_name] if env_name else [])]
    argv = ssh_argv(workspace.ssh, remote, args)
    previous: Snapshot | None = None
    polls = 0
    try:
        while True:
            try:
                done = subprocess.run(
                    argv,
                    capture_output=True,
                    text=True,
                    timeout=max(30.0, interval * 3),
                    stdin=subprocess.DEVNULL,
                )
                current = snapshot(done.returncode, done.stdout, done.stderr)
            except subprocess.TimeoutExpired:
                current = {"remote": "unavailable: status call timed out"}
            stamp = time.strftime("%H:%M:%S")
            changed = changes(previous, current)
            if as_json:
                record = {
                    "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "workspace": workspace_id,
                    "status": current,
                    "changes": changed,
                }
                click.echo(json.dumps(record))
            else:
                for line in changed:
                    click.echo(f"{stamp} {workspace_id}: {line}")
            previous = current
            polls += 1
            if count is not None and polls >= count:
                return
            time.sleep(interval)
    except KeyboardInterrupt:
        return
