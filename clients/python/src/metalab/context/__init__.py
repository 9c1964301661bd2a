"""Context: small, serializable specs of the data an experiment works on.

A context spec holds paths, identifiers, checksums and configuration; operations receive
it as ``context`` and load their data themselves. :func:`context_spec` turns a class into
a frozen dataclass with a ``fingerprint`` property.
"""

from metalab.context.spec import ContextSpec, FrozenContext, context_spec

__all__ = ["ContextSpec", "FrozenContext", "context_spec"]
