"""Built-in artifact serializers.

``JSONSerializer`` is the default; ``NumpySerializer`` needs numpy (imported only when an
array is written or read); ``PickleSerializer`` (``metalab.capture.serializers.pickle_``) is
opt-in and not exported here.
"""

from metalab.capture.serializers.json_ import JSONSerializer
from metalab.capture.serializers.numpy_ import NumpySerializer

__all__ = ["JSONSerializer", "NumpySerializer"]
