"""The metalab exception tree (public API); defined in `metalab.core.errors`."""

from metalab.core.errors import (
    AuthError,
    BundleConflict,
    BundleError,
    BundleNotFound,
    BundleRefused,
    ConfigError,
    DeadlineExceeded,
    MetalabError,
    ProvisioningFailed,
    SchedulerError,
    ServerUnavailable,
    StoreError,
    TunnelError,
    UsageError,
)

__all__ = [
    "MetalabError",
    "ConfigError",
    "UsageError",
    "ServerUnavailable",
    "AuthError",
    "DeadlineExceeded",
    "BundleNotFound",
    "BundleError",
    "BundleRefused",
    "BundleConflict",
    "ProvisioningFailed",
    "SchedulerError",
    "TunnelError",
    "StoreError",
]
