"""The work behind `metalab store export|import|list`: locators checked and opened, runs
copied with progress on stderr, every error one line with its locator redacted."""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import click

from metalab._cli.verbosity import ScrubSecrets, scrub
from metalab.core.redact import redact_locator
from metalab.errors import StoreError, UsageError

if TYPE_CHECKING:
    from metalab.store.config import StoreConfig

CONNECT_TIMEOUT_S = 10


def _password(locator: str) -> str | None:
    try:
        return urlsplit(locator).password
    except ValueError:
        return None


def _clean(text: str, locator: str) -> str:
    """``text`` (first line) with any secret, and the locator's password, masked."""
    lines = text.strip().splitlines()
    first = scrub(lines[0] if lines else text)
    password = _password(locator)
    return first.replace(password, "***") if password else first


def open_config(locator: str, role: str) -> StoreConfig:
    """The `StoreConfig` ``locator`` names; `UsageError` (exit 2) for a bad one."""
    from metalab.store.locator import parse_to_config

    shown = redact_locator(locator)
    if not locator.strip():
        raise UsageError(f"{role}: empty store locator")
    parts = urlsplit(locator) if "://" in locator else None
    if parts is not None and parts.scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path:
            raise UsageError(
                f"{role} {shown}: a file locator takes an absolute path, as file:///PATH"
            )
    try:
        return parse_to_config(locator)
    except ValueError as exc:
        raise UsageError(f"{role} {shown}: {_clean(str(exc), locator)}") from None


def check_reachable(config: StoreConfig, locator: str) -> None:
    """Connect once to a PostgreSQL store's server: `StoreError` (exit 1) with libpq's reason
    when it refuses, instead of files written and an index silently left behind."""
    connection_string = getattr(config, "connection_string", None)
    if not isinstance(connection_string, str):
        return
    shown = redact_locator(locator)
    try:
        import psycopg
    except ImportError:
        raise StoreError(
            f"{shown}: PostgreSQL stores need psycopg: pip install 'psycopg[binary,pool]'"
        ) from None
    try:
        with psycopg.connect(connection_string, connect_timeout=CONNECT_TIMEOUT_S):
            pass
    except psycopg.Error as exc:
        raise StoreError(f"cannot connect to {shown}: {_clean(str(exc), locator)}") from None


def _warnings_to_stderr() -> None:
    """Without -v: metalab's warnings as ``metalab: warning: …`` lines (secrets scrubbed),
    other libraries' log records dropped (-v shows everything)."""
    root = logging.getLogger()
    if root.handlers:
        return
    root.addHandler(logging.NullHandler())
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("metalab: warning: %(message)s"))
    handler.addFilter(ScrubSecrets())
    logging.getLogger("metalab").addHandler(handler)


class TransferProgress:
    """``Exporting: done/total`` on stderr: rewritten in place on a terminal (at most ten
    times a second), else a line every few seconds and at the end."""

    EVERY_S = 5.0
    TTY_EVERY_S = 0.1

    def __init__(self, verb: str, quiet: bool) -> None:
        self._label = f"{verb}ing"
        self._quiet = quiet
        self._tty = sys.stderr.isatty()
        self._last = time.monotonic()
        self._shown = False

    def __call__(self, done: int, total: int) -> None:
        if self._quiet:
            return
        now = time.monotonic()
        if self._tty and (done == total or now - self._last >= self.TTY_EVERY_S):
            click.echo(f"\r{self._label}: {done}/{total}", nl=False, err=True)
            self._shown = True
            self._last = now
        elif not self._tty and (done == total or now - self._last >= self.EVERY_S):
            click.echo(f"{self._label}: {done}/{total}", err=True)
            self._last = now

    def finish(self) -> None:
        if self._shown:
            click.echo(err=True)


def _failure(exc: Exception, locators: tuple[str, ...]) -> Exception | None:
    """The one-line error for an exception of the copy: OSError and database errors become
    `StoreError`, ValueError `UsageError`; None for anything else (a bug: shown whole)."""
    text = str(exc) or type(exc).__name__
    for locator in locators:
        text = _clean(text, locator)
    if isinstance(exc, ValueError):
        return UsageError(text)
    if isinstance(exc, OSError) or type(exc).__module__.startswith("psycopg"):
        return StoreError(f"{type(exc).__name__}: {text}")
    return None


def transfer(
    verb: str,
    *,
    source: str,
    destination: str,
    experiment_id: str | None,
    include_artifacts: bool,
    include_derived: bool,
    include_logs: bool,
    overwrite: bool,
    as_json: bool,
) -> None:
    """Copy the runs of ``source`` to ``destination``; print the counts (JSON with --json)."""
    from metalab.store.collection import COUNT_KEYS, CopyOptions, copy_collection

    src = open_config(source, "--from")
    dst = open_config(destination, "--to")
    check_reachable(src, source)
    check_reachable(dst, destination)
    _warnings_to_stderr()
    options = CopyOptions(
        include_derived=include_derived,
        include_logs=include_logs,
        include_artifacts=include_artifacts,
        overwrite=overwrite,
    )
    progress = TransferProgress(verb, quiet=as_json)
    try:
        counts = copy_collection(
            src, dst, experiment_id=experiment_id, options=options, progress=progress
        )
    except Exception as exc:
        failure = _failure(exc, (source, destination))
        if failure is None:
            raise
        raise failure from None
    finally:
        progress.finish()
    if as_json:
        click.echo(json.dumps({key: counts[key] for key in COUNT_KEYS}))
        return
    click.echo(f"{verb} complete:")
    for key in COUNT_KEYS:
        click.echo(f"  {key}: {counts[key]}")


def experiments(locator: str) -> list[str]:
    """The experiments of the store ``locator`` names (read from its files)."""
    from metalab.store.collection import list_experiments_in

    config = open_config(locator, "--store")
    where = f"--store {redact_locator(locator)}"
    try:
        return list_experiments_in(config)
    except ValueError as exc:
        raise UsageError(f"{where}: {_clean(str(exc), locator)}") from None
    except OSError as exc:
        raise StoreError(f"{where}: {_clean(str(exc), locator)}") from None
