"""`metalab store reindex [LOCATOR]`: rebuild a PostgresStore's index from its files."""

from __future__ import annotations

import json
import sys

import click

from metalab._cli.options import env_option, json_option


@click.group()
def store() -> None:
    """Run stores (FileStore, PostgresStore)."""


@store.command()
@click.argument("locator", required=False, default=None)
@env_option
@json_option
def reindex(locator: str | None, env_name: str | None, as_json: bool) -> None:
    """Rebuild the PostgreSQL index of a PostgresStore from the files under its file_root.

    LOCATOR is postgresql://…?file_root=PATH (with passfile=, never a password: argv is
    visible to every user), "-" to read it from stdin, or omitted / "discover" for the store
    of the nearest running service bundle.
    """
    from metalab._runstore import reindex as rebuild
    from metalab._runstore.locator import discover_store, has_password, resolve_store
    from metalab.errors import UsageError

    if locator == "-":
        locator = sys.stdin.readline().strip()
        if not locator:
            raise UsageError("no locator on stdin")
    elif locator is not None and has_password(locator):
        raise UsageError(
            "the locator on the command line carries a password (visible to every user via "
            "ps); use passfile=… or PGPASSFILE, or pass it on stdin with `-`"
        )
    if env_name is not None and locator not in (None, "discover"):
        raise UsageError("--env selects a bundle to discover; it cannot go with a LOCATOR")
    if locator is None or locator.strip() == "discover":
        config = discover_store(None, env_name)
    else:
        config = resolve_store(locator)

    def progress(experiment_id: str, runs: int) -> None:
        if not as_json:
            click.echo(f"  {experiment_id}: {runs} run(s)", err=True)

    total = rebuild(config, progress)
    if as_json:
        click.echo(json.dumps({"store": config.describe(), "runs": total}))
    else:
        click.echo(f"reindexed {total} run(s) into {config.describe()}")
