"""Give the memory of large, short-lived buffers back to the system at once (glibc).

glibc serves an allocation of at least ``M_MMAP_THRESHOLD`` bytes with its own ``mmap`` and
unmaps it on ``free``, but raises that threshold (up to 32 MiB) each time such a block is
freed: after the first 2 MiB request, later ones come from the heap's arenas, which keep them.
A server whose callers send 2 MiB messages (gRPC receives a whole message before a unary
handler sees it) then stays larger for good. Setting the threshold explicitly turns the
adjustment off, and ``malloc_trim`` gives back the free pages the smaller buffers left in the
heaps. `Reclaimer` runs the cycle collector and ``malloc_trim`` shortly after the calls of
callers without a token (`auth`), once per burst.
"""

from __future__ import annotations

import asyncio
import gc
from functools import cache
from typing import Any

M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 << 10  # every buffer of 256 KiB or more is mapped and unmapped on its own


@cache
def _libc() -> Any:
    """glibc's ``libc.so.6`` (ctypes is imported only here: a server started without callers
    to guard pays nothing), or None on another C library."""
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt  # noqa: B018 - glibc only (musl has no mallopt)
        libc.malloc_trim  # noqa: B018
    except (OSError, AttributeError):
        return None
    return libc


def map_large_buffers() -> bool:
    """Fix glibc's mmap threshold (see the module); False where that is not glibc."""
    libc = _libc()
    return libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


def trim() -> None:
    """Return the free memory at the top of every heap to the system (glibc)."""
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)


class Reclaimer:
    """Collect reference cycles and trim the heaps once, ``delay`` seconds after the first
    `soon` since the last time: a burst of calls costs one collection (a few ms)."""

    def __init__(self, delay: float = 1.0) -> None:
        self._delay = delay
        self._pending: asyncio.TimerHandle | None = None

    def soon(self) -> None:
        if self._pending is None:
            self._pending = asyncio.get_running_loop().call_later(self._delay, self._run)

    def _run(self) -> None:
        self._pending = None
        gc.collect()
        trim()
