"""metalab: reproducible experiment sweeps, with a run index and dashboard on a laptop or SLURM.

The experiment API is upstream metalab's (``metalab.__all__``): ``@metalab.operation``,
``metalab.Experiment``, ``metalab.seeds``, ``metalab.run(exp).result()``. Importing ``metalab``
is cheap: every name is loaded on first use, so no numpy, psycopg, grpc or pydantic is imported
up front. The services (``metalab services up``) are reached through the CLI and
``store="discover"``.
"""

import sys
from typing import TYPE_CHECKING

from metalab._api import __all__ as __all__
from metalab._api import __getattr__ as __getattr__
from metalab._api import __version__ as __version__
from metalab._api import install

if TYPE_CHECKING:
    from metalab._api import *  # noqa: F403  (type checkers see every name's type)

install(sys.modules[__name__])
