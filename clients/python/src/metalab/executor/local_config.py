"""`LocalExecutorConfig`: executor type ``local`` (this machine)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from metalab.executor.config import ExecutorConfig


@dataclass
class LocalExecutorConfig(ExecutorConfig):
    """``workers`` processes; one worker means sequential runs in this process."""

    executor_type: ClassVar[str] = "local"
    workers: int = 1

    def create(self) -> Any:
        """``None`` (sequential) for one worker, else a ``ProcessExecutor``."""
        if self.workers == 1:
            return None
        from metalab.executor.process import ProcessExecutor

        return ProcessExecutor(max_workers=self.workers)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LocalExecutorConfig:
        """``{"workers": n}`` (default 1)."""
        return cls(workers=d.get("workers", 1))
