"""Capture: metrics, structured data, artifacts and logs emitted by an operation.

``Capture`` is what an operation receives; ``SerializerRegistry`` and the ``Serializer``
protocol decide how artifacts are written to files.
"""

from metalab.capture.capture import Capture
from metalab.capture.registry import Serializer, SerializerRegistry

__all__ = ["Capture", "Serializer", "SerializerRegistry"]
