"""SeedBundle: a run's seeds, with named sub-seeds derived by SHA-256.

``derive(name)`` is the first 8 bytes (big-endian) of
``sha256(f"{root_seed}:{name}:{replicate_index or 0}")``, so it is the same on every platform
and Python version. NumPy is imported only by :meth:`SeedBundle.numpy`.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from typing import Any

_NUMPY_SEED_SPACE = 2**32


def _derive(root: int, name: str, replicate: int | None) -> int:
    digest = hashlib.sha256(f"{root}:{name}:{replicate or 0}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


@dataclass(frozen=True)
class SeedBundle:
    """The seeds of one run: all randomness in an operation should come from here.

    Attributes:
        root_seed: the base seed every sub-seed is derived from.
        replicate_index: the replicate this bundle belongs to (``None`` outside a plan).
    """

    root_seed: int
    replicate_index: int | None = None

    def derive(self, name: str) -> int:
        """Return the 64-bit sub-seed named ``name`` (e.g. ``"sampling"``, ``"init"``)."""
        return _derive(self.root_seed, name, self.replicate_index)

    def rng(self, name: str = "default") -> random.Random:
        """Return a ``random.Random`` seeded with ``derive(name)``."""
        return random.Random(self.derive(name))

    def numpy_seed(self, name: str = "default") -> int:
        """Return ``derive(name)`` folded into NumPy's 32-bit seed range."""
        return abs(self.derive(name)) % _NUMPY_SEED_SPACE

    def numpy(self, name: str = "default") -> Any:
        """Return a ``numpy.random.Generator`` seeded with ``numpy_seed(name)``.

        Raises:
            ImportError: numpy is not installed.
        """
        try:
            import numpy
        except ImportError as exc:
            raise ImportError(
                "numpy is required for SeedBundle.numpy(). "
                "Install it with: pip install metalab[numpy]"
            ) from exc
        return numpy.random.default_rng(self.numpy_seed(name))

    def to_dict(self) -> dict[str, Any]:
        """Return ``{"root_seed": ..., "replicate_index": ...}``."""
        return {"root_seed": self.root_seed, "replicate_index": self.replicate_index}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SeedBundle:
        """Rebuild a bundle from :meth:`to_dict` output (``replicate_index`` optional)."""
        return cls(root_seed=data["root_seed"], replicate_index=data.get("replicate_index"))

    @classmethod
    def for_preprocessing(cls, base_seed: int) -> SeedBundle:
        """Return the bundle for data preparation done before an experiment runs.

        Its root is derived from ``base_seed`` in a ``"preprocessing"`` namespace, so it
        never coincides with the experiment's replicate seeds; pass the same value as
        ``metalab.seeds(base=...)``.
        """
        return cls(root_seed=_derive(base_seed, "preprocessing", None))
