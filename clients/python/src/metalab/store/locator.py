"""Store locators: the strings that name a store across processes and machines.

- ``/path``, ``./path``, ``../path``, ``C:\\path``, ``file:///path``: a FileStore
- ``postgresql://user@host:port/db?file_root=/path``: a PostgresStore (needs file_root)
- ``discover``: the PostgreSQL of the running services (found like ``metalab env``)

`parse_to_config` turns a locator into the `StoreConfig` its scheme registers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

if TYPE_CHECKING:
    from metalab.store.base import Store
    from metalab.store.config import StoreConfig

DEFAULT_STORE_ROOT = "./experiments"

DISCOVER = "discover"


@dataclass
class LocatorInfo:
    """A locator split into its parts; ``params`` are its query parameters (first values)."""

    scheme: str
    path: str
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = None
    params: dict[str, str] = field(default_factory=dict)
    raw: str = ""

    def __post_init__(self) -> None:
        if self.params is None:
            self.params = {}

    def __repr__(self) -> str:
        shown = "***" if self.password else None
        return (
            f"LocatorInfo(scheme={self.scheme!r}, path={self.path!r}, host={self.host!r}, "
            f"port={self.port!r}, user={self.user!r}, password={shown!r}, "
            f"params={self.params!r})"
        )


def _is_path(locator: str) -> bool:
    if locator.startswith(("/", "./", "..")):
        return True
    return len(locator) >= 2 and locator[1] == ":" and locator[0].isalpha()


def _discovered() -> LocatorInfo:
    """The locator of the running services' store (`metalab._runstore.locator.discover_store`):
    its PostgreSQL URI, whose ``passfile`` parameter keeps the password out of the string."""
    from metalab._runstore.file import FileStoreConfig as DiscoveredFiles
    from metalab._runstore.locator import discover_store
    from metalab._runstore.pgconfig import PostgresStoreConfig as DiscoveredPostgres
    from metalab.errors import StoreError

    try:
        found = discover_store()
    except StoreError as exc:
        raise ValueError(str(exc)) from None
    if isinstance(found, DiscoveredPostgres):
        info = parse_locator(found.dsn)
        info.params.setdefault("file_root", found.file_root)
        return info
    if isinstance(found, DiscoveredFiles):
        return parse_locator(str(Path(found.root).resolve()))
    raise ValueError(f"store='discover' found an unsupported store: {found!r}")


def parse_locator(locator: str) -> LocatorInfo:
    """Split ``locator`` into a `LocatorInfo`; paths become absolute ``file`` locators."""
    if locator.strip().lower() == DISCOVER:
        return _discovered()
    if _is_path(locator):
        return LocatorInfo(scheme="file", path=str(Path(locator).resolve()), raw=locator)
    parsed = urlparse(locator)
    params = {key: values[0] for key, values in parse_qs(parsed.query).items()}
    path = parsed.path
    if parsed.scheme == "file":
        path = str(Path(path).resolve()) if path else ""
    return LocatorInfo(
        scheme=parsed.scheme or "file",
        path=path,
        host=parsed.hostname,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        params=params,
        raw=locator,
    )


def parse_to_config(locator: str, **kwargs: Any) -> StoreConfig:
    """The `StoreConfig` ``locator`` names; ``kwargs`` (``experiment_id``, ``file_root``, ...)
    override its query parameters. ValueError for an unknown scheme or missing parameter."""
    from metalab.store.config import ConfigRegistry

    info = parse_locator(locator)
    config_class = ConfigRegistry.get(info.scheme)
    if config_class is None:
        raise ValueError(f"Unknown store scheme: {info.scheme}")
    return config_class.from_locator(info, **kwargs)


def create_store(locator: str, **kwargs: Any) -> Store:
    """The store ``locator`` names, connected: ``parse_to_config(locator, **kwargs).connect()``."""
    return parse_to_config(locator, **kwargs).connect()
