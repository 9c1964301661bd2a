"""`metalab store export|import|list|reindex`: move runs between stores, list a store's
experiments, rebuild a PostgresStore's index from its files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from metalab._cli.options import env_option, json_option

F = TypeVar("F", bound=Callable[..., Any])

LOCATORS = (
    "A LOCATOR is a path (DIR, file:///DIR), postgresql://USER@HOST:PORT/DB?file_root=DIR "
    "(a password is best kept in passfile= or PGPASSFILE: argv is visible to every user) or "
    "'discover' (the store of the nearest running services)."
)


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
    of the nearest running service bundle. Experiments in upstream's layout (what
    `metalab.run` writes) and in the earlier one are both reindexed.
    """
    from metalab._runstore._reindex import reindex_layouts
    from metalab._runstore.locator import discover_store, has_password, resolve_store
    from metalab._runstore.pgconfig import PostgresStoreConfig
    from metalab.errors import StoreError, UsageError

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
    if not isinstance(config, PostgresStoreConfig):
        raise StoreError(f"reindex needs a PostgreSQL store (got {config.describe()})")

    def on_experiment(experiment_id: str, runs: int) -> None:
        if not as_json:
            click.echo(f"  {experiment_id}: {runs} run(s)", err=True)

    def on_phase(phase: str, done: int, total: int) -> None:
        if not as_json and done == total:
            click.echo(f"  {phase}", err=True)

    counts = reindex_layouts(config, on_experiment, on_phase)
    if as_json:
        payload = {
            "store": config.describe(),
            "runs": counts.total,
            "upstream_runs": counts.upstream,
            "earlier_runs": counts.earlier,
        }
        click.echo(json.dumps(payload))
    else:
        click.echo(
            f"reindexed {counts.total} run(s) into {config.describe()} "
            f"(upstream layout: {counts.upstream}, earlier layout: {counts.earlier})"
        )


def transfer_options(function: F) -> F:
    """The flags of `store export|import` (upstream's, plus --json)."""
    decorators = [
        click.option(
            "--from", "-f", "source", required=True, metavar="LOCATOR", help="Source store."
        ),
        click.option(
            "--to", "-t", "destination", required=True, metavar="LOCATOR", help="Destination."
        ),
        click.option(
            "--experiment",
            "-e",
            "experiment_id",
            metavar="ID",
            default=None,
            help="Only this experiment (name:version, or its directory name).",
        ),
        click.option(
            "--include-artifacts", is_flag=True, help="Copy artifact files too (off by default)."
        ),
        click.option(
            "--include-derived/--no-include-derived",
            default=True,
            help="Copy derived metrics (default: yes).",
        ),
        click.option(
            "--include-logs/--no-include-logs",
            default=True,
            help="Copy log files (default: yes).",
        ),
        click.option("--overwrite", is_flag=True, help="Replace runs the destination already has."),
        json_option,
    ]
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


@store.command("export", epilog=LOCATORS)
@transfer_options
def export_(**options: Any) -> None:
    """Copy runs (records, derived metrics, logs, results, manifests) from one store to another.

    Runs the destination already has are skipped unless --overwrite. Runs land in their
    experiment's directory of the destination (PostgreSQL: under its file_root, and indexed).
    """
    from metalab._cli.transfer import transfer

    transfer("Export", **options)


@store.command("import", epilog=LOCATORS)
@transfer_options
def import_(**options: Any) -> None:
    """Copy runs from a store into another (the same as export, named from the other end)."""
    from metalab._cli.transfer import transfer

    transfer("Import", **options)


@store.command("list", epilog=LOCATORS)
@click.option("--store", "-s", "locator", required=True, metavar="LOCATOR", help="The store.")
@json_option
def list_(locator: str, as_json: bool) -> None:
    """List the experiments a store holds."""
    from metalab._cli.transfer import experiments

    found = experiments(locator)
    if as_json:
        click.echo(json.dumps({"experiments": found}))
    elif found:
        click.echo("Experiments:")
        for experiment_id in found:
            click.echo(f"  {experiment_id}")
    else:
        click.echo("No experiments found")
