"""`HandleRegistry`: executor type -> handle class that can reattach to its runs.

Handle classes come from the executor configs' ``handle_class()`` (see
:class:`~metalab.executor.config.ExecutorConfigRegistry`); types without one are absent.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from metalab.executor.handle import RunHandle

logger = logging.getLogger(__name__)


class HandleRegistry:
    """Reconnectable handle classes by executor type, collected once."""

    _cache: dict[str, type[RunHandle] | None] = {}
    _loaded: bool = False

    @classmethod
    def _ensure_loaded(cls) -> None:
        if cls._loaded:
            return
        cls._loaded = True
        from metalab.executor.config import ExecutorConfigRegistry

        for name in ExecutorConfigRegistry.types():
            config_class = ExecutorConfigRegistry.get(name)
            if config_class is None:
                continue
            try:
                handle_class = config_class.handle_class()
            except Exception:
                logger.debug("Failed to load handle_class for executor %r", name, exc_info=True)
                continue
            if handle_class is not None:
                cls._cache[name] = handle_class

    @classmethod
    def get(cls, executor_type: str) -> type[RunHandle] | None:
        """The handle class for ``executor_type``, or ``None``."""
        cls._ensure_loaded()
        return cls._cache.get(executor_type)

    @classmethod
    def types(cls) -> list[str]:
        """Executor types whose runs can be reattached to."""
        cls._ensure_loaded()
        return list(cls._cache)
