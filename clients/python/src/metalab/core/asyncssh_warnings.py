"""asyncssh's import warns under cryptography ≥ 51 ("DSA is deprecated", from the DSA key
types it still names). metalab never offers DSA keys; the warning would reach every user's
stderr on the first SSH connection of a tunnel, a SLURM login or an ``ssh://`` Atlas store.
`quiet` drops exactly that warning, attributed to asyncssh's modules, before they load."""

from __future__ import annotations

import warnings


def quiet() -> None:
    """Ignore asyncssh's "DSA is deprecated" import warning (nothing else)."""
    warnings.filterwarnings("ignore", message="DSA is deprecated", module=r"asyncssh(\.|$)")
