"""How metrics are shown in progress output: ``MetricDisplay`` and its string shorthand."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class MetricDisplay:
    """How one metric is shown.

    Specify it as ``"best_f"`` (default formatting), ``"best_f:.2f"`` (a format spec applied
    to numbers) or a ``MetricDisplay`` for a label or a custom ``formatter``::

        MetricDisplay("best_f", format=".2f", label="best")
        MetricDisplay("converged", formatter=lambda v: "yes" if v else "no")

    Attributes:
        name: Key in the run's metrics.
        format: Format spec for numeric values (e.g. ``".2f"``, ``">8.2e"``).
        label: Shown name (defaults to ``name``).
        formatter: Turns the value into text; takes precedence over ``format``.
    """

    name: str
    format: str | None = None
    label: str | None = None
    formatter: Callable[[Any], str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.label is None:
            self.label = self.name

    def format_value(self, value: Any) -> str:
        """``value`` as text: formatter, else format spec (numbers), else by type
        (bool as ✓/✗, floats to 4 significant digits or scientific when tiny or huge)."""
        if self.formatter is not None:
            return self.formatter(value)
        if self.format is not None and isinstance(value, int | float):
            return f"{value:{self.format}}"
        if isinstance(value, bool):
            return "✓" if value else "✗"
        if isinstance(value, float):
            if abs(value) < 0.001 or abs(value) > 10000:
                return f"{value:.2e}"
            return f"{value:.4g}"
        return str(value)

    @classmethod
    def normalize(cls, spec: str | MetricDisplay) -> MetricDisplay:
        """A ``MetricDisplay`` from ``"name"`` / ``"name:format"`` (or ``spec`` itself).

        Raises:
            TypeError: ``spec`` is neither a string nor a MetricDisplay.
        """
        if isinstance(spec, cls):
            return spec
        if not isinstance(spec, str):
            raise TypeError(
                "display_metrics must be strings or MetricDisplay instances, "
                f"got {type(spec).__name__}"
            )
        name, sep, fmt = spec.partition(":")
        if not name:
            return cls(name=spec)
        return cls(name=name.strip(), format=fmt if sep and fmt else None)


def normalize_display_metrics(
    display_metrics: list[str | MetricDisplay] | None,
) -> list[MetricDisplay]:
    """Each spec as a ``MetricDisplay`` ([] for None)."""
    return [MetricDisplay.normalize(spec) for spec in display_metrics or []]


def metrics_text(displays: list[MetricDisplay], metrics: dict[str, Any]) -> list[str]:
    """``label=value`` for each displayed metric present in ``metrics``."""
    return [
        f"{display.label}={display.format_value(metrics[display.name])}"
        for display in displays
        if display.name in metrics
    ]
