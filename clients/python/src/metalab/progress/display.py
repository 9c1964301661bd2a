"""``display_results``: a summary of finished results, with breakdowns and the best run.

The score column is the first of ``best_f``, ``loss``, ``error``, ``score``, ``accuracy``,
``f1`` present (in table column order); ``accuracy``, ``score`` and ``f1`` are better
higher, the others lower. Needs pandas; uses rich on a terminal or with a ``console``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from metalab.progress._console import wants_rich

if TYPE_CHECKING:
    from metalab.result import Results

SCORE_COLUMNS = ("best_f", "loss", "error", "score", "accuracy", "f1")
HIGHER_IS_BETTER = frozenset({"accuracy", "score", "f1"})
_BEST_ROW_FIELDS = ("algorithm", "problem", "model", "config")


def display_results(
    result: Results,
    console: Any | None = None,
    show_by_group: list[str] | None = None,
) -> None:
    """Print totals, timing, per-group score statistics (for ``show_by_group`` columns)
    and the best successful run.

    Args:
        result: The results to summarize.
        console: A rich Console to print on (implies rich output).
        show_by_group: Columns to break the score down by (e.g. ``["algorithm"]``).
    """
    frame: Any = result.table(as_dataframe=True)
    rich = console is not None or wants_rich()
    if frame.empty:
        if rich and console is not None:
            console.print("[yellow]No results to display.[/yellow]")
        else:
            print("No results to display.")
        return
    if rich:
        _RichReport(frame, console).show(show_by_group or [])
    else:
        _print_plain(frame, show_by_group or [])


def _score_column(frame: Any) -> str | None:
    return next((c for c in frame.columns if c in SCORE_COLUMNS), None)


def _best_index(frame: Any, column: str) -> Any:
    values = frame[column]
    return values.idxmax() if column in HIGHER_IS_BETTER else values.idxmin()


def _group_stats(frame: Any, group: str, column: str) -> Any:
    best = "max" if column in HIGHER_IS_BETTER else "min"
    stats = frame.groupby(group)[column].agg(["mean", best, "count"])
    return stats.rename(columns={best: "best"})


def _print_plain(frame: Any, groups: list[str]) -> None:
    print("=" * 60)
    print("RESULTS SUMMARY")
    print("=" * 60)
    print(f"\nTotal runs: {len(frame)}")
    print(f"  Success: {(frame['status'] == 'success').sum()}")
    print(f"  Failed: {(frame['status'] == 'failed').sum()}")
    ok = frame[frame["status"] == "success"]
    if ok.empty:
        return
    if "duration_ms" in ok.columns:
        print(
            f"\nTiming: mean={ok['duration_ms'].mean():.1f}ms, "
            f"total={ok['duration_ms'].sum() / 1000:.1f}s"
        )
    column = _score_column(ok)
    if column is None:
        return
    for group in groups:
        if group in ok.columns:
            print(f"\nBy {group}:")
            for value, row in _group_stats(ok, group, column).iterrows():
                print(f"  {value}: mean={row['mean']:.2e}, best={row['best']:.2e}")
    best = ok.loc[_best_index(ok, column)]
    print(f"\nBest run: {str(best['run_id'])[:24]}... {column}={best[column]:.6e}")


class _RichReport:
    def __init__(self, frame: Any, console: Any | None) -> None:
        from rich.console import Console

        self.frame = frame
        self.console = console if console is not None else Console()

    def show(self, groups: list[str]) -> None:
        from rich.table import Table

        frame = self.frame
        ok = frame[frame["status"] == "success"]
        summary = Table(title="Results Summary", show_header=True, header_style="bold")
        summary.add_column("Metric", style="cyan")
        summary.add_column("Value", justify="right")
        summary.add_row("Total runs", str(len(frame)))
        summary.add_row("Successful", f"[green]{(frame['status'] == 'success').sum()}[/green]")
        summary.add_row("Failed", f"[red]{(frame['status'] == 'failed').sum()}[/red]")
        if not ok.empty and "duration_ms" in ok.columns:
            summary.add_row("", "")
            summary.add_row("Avg duration", f"{ok['duration_ms'].mean():.1f}ms")
            summary.add_row("Total time", f"{ok['duration_ms'].sum() / 1000:.1f}s")
        self.console.print(summary)
        column = None if ok.empty else _score_column(ok)
        if column is None:
            return
        for group in groups:
            if group in ok.columns:
                self._group_table(ok, group, column)
        self._best(ok.loc[_best_index(ok, column)], column)

    def _group_table(self, ok: Any, group: str, column: str) -> None:
        from rich.table import Table

        table = Table(title=f"Performance by {group.title()}", show_header=True)
        table.add_column(group.title(), style="cyan")
        table.add_column(f"Mean {column}", justify="right")
        table.add_column(f"Best {column}", justify="right", style="green")
        table.add_column("Runs", justify="right")
        for value, row in _group_stats(ok, group, column).iterrows():
            table.add_row(
                str(value), f"{row['mean']:.2e}", f"{row['best']:.2e}", str(int(row["count"]))
            )
        self.console.print()
        self.console.print(table)

    def _best(self, row: Any, column: str) -> None:
        from rich.panel import Panel

        lines = [f"Run ID: {str(row['run_id'])[:24]}..."]
        lines += [f"{f.title()}: {row[f]}" for f in _BEST_ROW_FIELDS if f in row.index]
        if "dim" in row.index:
            lines.append(f"Dimension: {row['dim']}")
        lines.append(f"{column}: [bold green]{row[column]:.6e}[/bold green]")
        self.console.print()
        self.console.print(
            Panel("\n".join(lines), title="[bold]Best Result[/bold]", border_style="green")
        )
