"""The service bundle: a public JSON contract describing how to reach provisioned services."""

from metalab.core.bundle.files import (
    SCHEMA_VERSION,
    bundle_path,
    delete_bundle,
    read_bundle,
    write_bundle,
)
from metalab.core.bundle.model import Bundle

__all__ = [
    "SCHEMA_VERSION",
    "Bundle",
    "bundle_path",
    "delete_bundle",
    "read_bundle",
    "write_bundle",
]
