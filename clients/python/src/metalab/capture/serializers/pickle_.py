"""Pickle serializer: opt-in only.

Pickles are tied to Python and library versions and unsafe to load from untrusted
sources, so this serializer is used only with ``allow_pickle=True`` (explicitly via
``kind="pickle"``, or as the last resort when nothing else fits) and warns on every write.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from typing import Any

from metalab.capture.serializers._files import target, written

logger = logging.getLogger(__name__)


class PickleSerializer:
    """Writes any picklable object as ``.pkl`` (highest protocol)."""

    @property
    def kind(self) -> str:
        return "pickle"

    @property
    def format(self) -> str:
        return "pkl"

    def can_handle(self, obj: Any) -> bool:
        try:
            pickle.dumps(obj)
        except (pickle.PicklingError, TypeError, AttributeError):
            return False
        return True

    def dump(self, obj: Any, path: Path) -> dict[str, Any]:
        logger.warning(
            "Using pickle to serialize %s. "
            "Consider implementing a custom serializer for better portability.",
            type(obj).__name__,
        )
        actual = target(path, "pkl")
        with actual.open("wb") as fh:
            pickle.dump(obj, fh, protocol=pickle.HIGHEST_PROTOCOL)
        return written(
            actual,
            self.format,
            _warning="Pickled artifacts may not be portable across Python versions",
        )

    def load(self, path: Path) -> Any:
        """Unpickle ``path``. Only load pickles from trusted sources."""
        with path.open("rb") as fh:
            return pickle.load(fh)
