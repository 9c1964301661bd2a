"""Seeds: explicit, reproducible randomness.

* :class:`SeedBundle` — one run's root seed and replicate index, with named sub-seeds;
* :class:`SeedPlan` — the bundles of all replicates of an experiment;
* :func:`seeds` — build a plan: ``seeds(base=42, replicates=3)``.
"""

from metalab.seeds.bundle import SeedBundle
from metalab.seeds.plan import SeedPlan, seeds

__all__ = ["SeedBundle", "SeedPlan", "seeds"]
