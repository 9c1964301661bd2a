"""`RunTable`: a list of row dicts that prints as an aligned text table."""

from __future__ import annotations

from typing import Any


class RunTable(list[dict[str, Any]]):
    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(key for row in self for key in row))

    def to_pandas(self) -> Any:
        import pandas  # type: ignore[import-untyped]  # optional dependency

        return pandas.DataFrame(list(self), columns=self.columns)

    def __str__(self) -> str:
        columns = self.columns
        cells = [[_fmt(row.get(c)) for c in columns] for row in self]
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells]
        return "\n".join(line.rstrip() for line in lines)


def _fmt(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"
