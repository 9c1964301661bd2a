"""Small file helpers shared by the serializers."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def target(path: Path, extension: str) -> Path:
    """``path`` with ``.extension`` appended, its parent directory created."""
    actual = path.with_name(f"{path.name}.{extension}")
    actual.parent.mkdir(parents=True, exist_ok=True)
    return actual


def written(path: Path, fmt: str, **extra: Any) -> dict[str, Any]:
    """The result dict a serializer's ``dump`` returns for the file at ``path``."""
    return {"path": str(path), "format": fmt, "size_bytes": path.stat().st_size, **extra}
