"""JSON serializer: the default, always registered."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from metalab.capture.serializers._files import target, written


class JSONSerializer:
    """Writes JSON-compatible objects (dict, list, str, numbers, bool, None) as ``.json``."""

    @property
    def kind(self) -> str:
        return "json"

    @property
    def format(self) -> str:
        return "json"

    def can_handle(self, obj: Any) -> bool:
        try:
            json.dumps(obj)
        except (TypeError, ValueError):
            return False
        return True

    def dump(self, obj: Any, path: Path) -> dict[str, Any]:
        actual = target(path, "json")
        actual.write_text(json.dumps(obj, indent=2, sort_keys=True), encoding="utf-8")
        return written(actual, self.format)

    def load(self, path: Path) -> Any:
        return json.loads(path.read_text(encoding="utf-8"))
