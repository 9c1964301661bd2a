"""The serializer protocol and the registry that picks a serializer for an object.

JSON is always registered, NumPy when numpy is installed (without importing it), and
pickle only on request: ``allow_pickle=True`` or an explicit ``kind="pickle"`` under it.
"""

from __future__ import annotations

import functools
import logging
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Protocol

logger = logging.getLogger(__name__)

PICKLE_KIND = "pickle"


class Serializer(Protocol):
    """Writes one kind of object to a file and reads it back."""

    @property
    def kind(self) -> str:
        """Artifact kind this serializer handles (e.g. ``"json"``)."""
        ...

    @property
    def format(self) -> str:
        """File format it writes (e.g. ``"json"``, ``"npz"``)."""
        ...

    def can_handle(self, obj: Any) -> bool:
        """Whether ``obj`` can be written by this serializer."""
        ...

    def dump(self, obj: Any, path: Path) -> dict[str, Any]:
        """Write ``obj`` next to ``path`` (extension added).

        Returns at least ``path`` (the file written) and ``format``, usually ``size_bytes``.
        """
        ...

    def load(self, path: Path) -> Any:
        """Read an object back from ``path``."""
        ...


@functools.cache
def _numpy_serializer() -> Serializer | None:
    """The (stateless) numpy serializer when numpy is installed; looked up once, since
    every run's capture builds a registry."""
    if find_spec("numpy") is None:
        return None
    from metalab.capture.serializers.numpy_ import NumpySerializer

    return NumpySerializer()


def _pickle_serializer() -> Serializer:
    from metalab.capture.serializers.pickle_ import PickleSerializer

    return PickleSerializer()


class SerializerRegistry:
    """Serializers by kind, tried in registration order when no kind is given."""

    def __init__(self, allow_pickle: bool = False) -> None:
        self._serializers: dict[str, Serializer] = {}
        self._allow_pickle = allow_pickle
        self._register_defaults()

    def _register_defaults(self) -> None:
        from metalab.capture.serializers.json_ import JSONSerializer

        self.register(JSONSerializer())
        numpy_serializer = _numpy_serializer()
        if numpy_serializer is not None:
            self.register(numpy_serializer)
        if self._allow_pickle:
            self.register(_pickle_serializer())

    def register(self, serializer: Serializer) -> None:
        """Add ``serializer`` (replacing any of the same kind, keeping its place in order)."""
        self._serializers[serializer.kind] = serializer

    def get(self, kind: str) -> Serializer | None:
        """The serializer registered for ``kind``, or None."""
        return self._serializers.get(kind)

    @property
    def kinds(self) -> list[str]:
        """Registered kinds, in fallback order."""
        return list(self._serializers)

    def find(self, obj: Any, kind: str | None = None) -> Serializer:
        """The serializer for ``obj``: the one named by ``kind``, else the first that fits.

        Raises:
            ValueError: pickle requested without ``allow_pickle``, an unknown ``kind``, or
                no serializer accepts ``obj``.
        """
        if kind == PICKLE_KIND:
            if not self._allow_pickle:
                raise ValueError(
                    "Pickle serializer requires allow_pickle=True. "
                    "This is disabled by default for safety."
                )
            return self._pickle()
        if kind is not None:
            chosen = self._serializers.get(kind)
            if chosen is None:
                raise ValueError(f"No serializer registered for kind: {kind}")
            return chosen

        for serializer in self._serializers.values():
            if serializer.can_handle(obj):
                return serializer
        if self._allow_pickle:
            logger.warning(
                "Using pickle serializer for %s. "
                "Consider implementing a custom serializer for better portability.",
                type(obj).__name__,
            )
            return self._pickle()
        raise ValueError(
            f"No serializer can handle object of type {type(obj).__name__}. "
            "Consider using kind='pickle' with allow_pickle=True, or "
            "implement a custom serializer."
        )

    def _pickle(self) -> Serializer:
        if PICKLE_KIND not in self._serializers:
            self.register(_pickle_serializer())
        return self._serializers[PICKLE_KIND]
