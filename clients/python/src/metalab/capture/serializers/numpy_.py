"""NumPy serializer: arrays and dicts of arrays as compressed ``.npz``.

numpy is imported only to write or read a file; ``can_handle`` answers False without
importing it when numpy was never imported (then no object can be an array).
"""

from __future__ import annotations

import sys
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from metalab.capture.serializers._files import target, written

_SINGLE_KEY = "arr"


class NumpySerializer:
    """Writes a numpy array (key ``arr``) or a dict of arrays (one key each) as ``.npz``."""

    def __init__(self) -> None:
        if find_spec("numpy") is None:
            raise ImportError(
                "numpy is required for NumpySerializer. Install it with: pip install metalab[numpy]"
            )

    @property
    def kind(self) -> str:
        return "numpy"

    @property
    def format(self) -> str:
        return "npz"

    def can_handle(self, obj: Any) -> bool:
        np = sys.modules.get("numpy")
        if np is None:
            return False
        if isinstance(obj, np.ndarray):
            return True
        return isinstance(obj, dict) and all(isinstance(v, np.ndarray) for v in obj.values())

    def dump(self, obj: Any, path: Path) -> dict[str, Any]:
        import numpy as np

        arrays: dict[str, Any] = {_SINGLE_KEY: obj} if isinstance(obj, np.ndarray) else dict(obj)
        actual = target(path, "npz")
        with actual.open("wb") as fh:
            np.savez_compressed(fh, **arrays)
        shapes = {key: list(value.shape) for key, value in arrays.items()}
        return written(actual, self.format, shapes=shapes)

    def load(self, path: Path) -> Any:
        import numpy as np

        with np.load(path) as archive:
            keys = list(archive.keys())
            if keys == [_SINGLE_KEY]:
                return archive[_SINGLE_KEY]
            return {key: archive[key] for key in keys}
