"""Store configurations: plain, serialisable data that connects to a store on demand.

`ConfigRegistry` maps locator schemes to config classes: the built-in ``file`` and
``postgresql`` (alias ``postgres``) plus any ``metalab.stores`` entry point.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, replace
from importlib import import_module
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    from metalab.store.base import Store
    from metalab.store.locator import LocatorInfo

logger = logging.getLogger(__name__)

_BUILTIN = {
    "file": "metalab.store.file:FileStoreConfig",
    "postgresql": "metalab.store.postgres:PostgresStoreConfig",
    "postgres": "metalab.store.postgres:PostgresStoreConfig",
}


def _load(target: str) -> Any:
    module, _, name = target.partition(":")
    return getattr(import_module(module), name)


class ConfigRegistry:
    """Scheme -> `StoreConfig` subclass. A scheme's module is imported on its first lookup
    (so naming a file store never imports psycopg)."""

    _configs: dict[str, type[StoreConfig]] = {}
    _targets: dict[str, str] = {}
    _loaded: bool = False

    @classmethod
    def _ensure_loaded(cls) -> None:
        if cls._loaded:
            return
        cls._loaded = True
        cls._targets = dict(_BUILTIN)
        for ep in entry_points(group="metalab.stores"):
            cls._targets.setdefault(ep.name, ep.value)

    @classmethod
    def get(cls, scheme: str) -> type[StoreConfig] | None:
        """The config class of ``scheme``, or None."""
        cls._ensure_loaded()
        if scheme not in cls._configs and scheme in cls._targets:
            try:
                cls._configs[scheme] = _load(cls._targets[scheme])
            except Exception:  # noqa: BLE001 - a broken plugin must not break the others
                logger.debug("store scheme %r unavailable", scheme, exc_info=True)
                del cls._targets[scheme]
        return cls._configs.get(scheme)

    @classmethod
    def schemes(cls) -> list[str]:
        """Every registered scheme."""
        cls._ensure_loaded()
        return list(cls._targets)


@dataclass(frozen=True, kw_only=True)
class StoreConfig(ABC):
    """Where and how to store runs, as data: ``connect()`` opens the store.

    ``scoped(experiment_id)`` gives the config of one experiment's store; ``to_dict`` /
    ``from_dict`` round-trip through JSON (``_type`` names the scheme).
    """

    scheme: ClassVar[str]
    experiment_id: str | None = None

    @abstractmethod
    def connect(self) -> Store:
        """A store opened from this config."""

    @classmethod
    @abstractmethod
    def from_locator(cls, info: LocatorInfo, **kwargs: Any) -> StoreConfig:
        """The config a parsed locator describes; ``kwargs`` override its query parameters."""

    def scoped(self, experiment_id: str) -> Self:
        """This config for ``experiment_id``; ValueError if scoped to another experiment."""
        if self.experiment_id == experiment_id:
            return self
        if self.experiment_id is not None:
            raise ValueError(
                f"Config already scoped to {self.experiment_id}, cannot re-scope to {experiment_id}"
            )
        return replace(self, experiment_id=experiment_id)

    @property
    def is_scoped(self) -> bool:
        """Whether the config belongs to one experiment."""
        return self.experiment_id is not None

    def to_dict(self) -> dict[str, Any]:
        """The config's fields plus ``_type`` (its scheme)."""
        return {**asdict(self), "_type": self.scheme}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoreConfig:
        """The config `to_dict` produced; ValueError for a missing or unknown ``_type``."""
        fields = dict(data)
        type_tag = fields.pop("_type", None)
        if type_tag is None:
            raise ValueError("Missing _type field in config dict")
        config_class = ConfigRegistry.get(type_tag)
        if config_class is None:
            raise ValueError(f"Unknown config type: {type_tag}")
        return config_class(**fields)
