"""``Results.display()``: a status summary and per-group success counts."""

from __future__ import annotations

from typing import Any

from metalab.progress._console import wants_rich
from metalab.types import RunRecord, Status

_STATUS_COLOURS = {"success": "green", "failed": "red"}


def _groups(
    records: list[RunRecord], keys: list[str]
) -> list[tuple[tuple[Any, ...], int, int, int]]:
    """``(key values, successes, failures, total)`` per distinct combination of metric values."""
    grouped: dict[tuple[Any, ...], list[RunRecord]] = {}
    for record in records:
        grouped.setdefault(tuple(record.metrics.get(k) for k in keys), []).append(record)
    try:
        ordered = sorted(grouped)
    except TypeError:  # mixed or unorderable values: order by their text
        ordered = sorted(grouped, key=lambda k: tuple(str(v) for v in k))
    out = []
    for key in ordered:
        members = grouped[key]
        ok = sum(r.status == Status.SUCCESS for r in members)
        bad = sum(r.status == Status.FAILED for r in members)
        out.append((key, ok, bad, len(members)))
    return out


def show_results(
    records: list[RunRecord],
    summary: dict[str, Any],
    *,
    group_by: list[str] | None,
    show_summary: bool,
) -> None:
    """Print the summary and groups, with rich on a terminal, as plain lines otherwise."""
    groups = _groups(records, group_by) if group_by and records else None
    if wants_rich():
        _show_rich(summary, group_by or [], groups, show_summary)
    else:
        _show_plain(summary, group_by or [], groups, show_summary)


def _show_plain(
    summary: dict[str, Any],
    keys: list[str],
    groups: list[tuple[tuple[Any, ...], int, int, int]] | None,
    show_summary: bool,
) -> None:
    if show_summary:
        print("\nResults Summary")
        print(f"  Total runs: {summary['total_runs']}")
        for status, count in summary["by_status"].items():
            print(f"  {status}: {count}")
        print(f"  Avg duration: {summary['avg_duration_ms']:.1f}ms")
    if groups is not None:
        print(f"\nBy {', '.join(keys)}:")
        for key, ok, _bad, total in groups:
            label = ", ".join(f"{k}={v}" for k, v in zip(keys, key, strict=True))
            print(f"  {label}: {ok}/{total} success")


def _show_rich(
    summary: dict[str, Any],
    keys: list[str],
    groups: list[tuple[tuple[Any, ...], int, int, int]] | None,
    show_summary: bool,
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if show_summary:
        console.print("\n[bold]Results Summary[/bold]")
        console.print(f"  Total runs: {summary['total_runs']}")
        for status, count in summary["by_status"].items():
            colour = _STATUS_COLOURS.get(status, "yellow")
            console.print(f"  [{colour}]{status}[/{colour}]: {count}")
        console.print(f"  Avg duration: {summary['avg_duration_ms']:.1f}ms")
    if groups is not None:
        console.print(f"\n[bold]By {', '.join(keys)}:[/bold]")
        table = Table()
        for key in keys:
            table.add_column(key)
        for title in ("Success", "Failed", "Total"):
            table.add_column(title, justify="right")
        for key_values, ok, bad, total in groups:
            table.add_row(*(str(v) for v in key_values), str(ok), str(bad), str(total))
        console.print(table)
