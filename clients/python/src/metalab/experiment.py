"""`Experiment`: what to run (operation), over which inputs (context, params, seeds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from metalab.context.spec import ContextSpec
    from metalab.operation import OperationWrapper
    from metalab.params.resolver import ParamResolver
    from metalab.params.source import ParamSource
    from metalab.seeds.plan import SeedPlan


@dataclass
class Experiment:
    """An experiment's definition; run it with :func:`metalab.run`.

    ``name`` and ``version`` form the experiment id (``"name:version"``). The operation,
    context, params and seeds determine every run's identity; ``description``, ``tags``
    and ``metadata`` are recorded with the experiment but never fingerprinted.
    ``param_resolver`` (optional) turns each sampled param case into the params the
    operation receives; the resolved params are what the run id hashes.
    """

    name: str
    version: str
    context: ContextSpec
    operation: OperationWrapper
    params: ParamSource
    seeds: SeedPlan
    description: str | None = None
    tags: list[str] = field(default_factory=list)
    param_resolver: ParamResolver | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def experiment_id(self) -> str:
        """``"{name}:{version}"``."""
        return f"{self.name}:{self.version}"

    def __repr__(self) -> str:
        described = f", description={self.description!r}" if self.description else ""
        return (
            f"Experiment(name={self.name!r}, version={self.version!r}{described}, "
            f"params={self.params!r}, seeds={self.seeds!r})"
        )
