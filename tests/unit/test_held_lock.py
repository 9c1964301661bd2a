"""The provisioning lock changes hands without a moment unlocked (an interrupted up's clean-up)."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from metalab_orchestrator.lifecycle import HeldLock


def _try_lock(path: Path) -> bool:
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_the_new_holder_keeps_the_lock_until_it_releases(tmp_path: Path) -> None:
    path = tmp_path / ".provision.lock"
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    first = HeldLock(fd)
    second = first.hand_over()
    first.release()  # the old holder leaving does not unlock
    assert not _try_lock(path)
    second.release()
    assert _try_lock(path)
    second.release()  # idempotent


def test_a_lock_is_handed_over_once(tmp_path: Path) -> None:
    fd = os.open(tmp_path / "lock", os.O_RDWR | os.O_CREAT, 0o600)
    lock = HeldLock(fd)
    other = lock.hand_over()
    with pytest.raises(RuntimeError, match="already handed over"):
        lock.hand_over()
    other.release()
