"""Runtime: cancellation and defaults."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from metalab.runtime import CancellationToken, CancelledError, Runtime, create_runtime


def test_cancellation_token() -> None:
    token = CancellationToken()
    assert not token.is_cancelled()
    assert token.wait(0) is False
    threading.Timer(0.01, token.cancel).start()
    assert token.wait(5) is True
    token.reset()
    assert not token.is_cancelled()


def test_check_cancelled_raises_once_cancelled(tmp_path: Path) -> None:
    runtime = Runtime(scratch_dir=tmp_path)
    runtime.check_cancelled()
    runtime.cancel_token.cancel()
    with pytest.raises(CancelledError, match="Operation was cancelled"):
        runtime.check_cancelled()


def test_defaults() -> None:
    runtime = Runtime()
    try:
        assert runtime.logger.name == "metalab.operation"
        assert runtime.scratch_dir.is_dir() and runtime.scratch_dir.name.startswith("metalab_")
        assert runtime.metadata == {} and runtime.event_callback is None
    finally:
        shutil.rmtree(runtime.scratch_dir)


def test_create_runtime(tmp_path: Path) -> None:
    runtime = create_runtime("abcdef0123456789", metadata={"gpu": True})
    try:
        assert runtime.logger.name == "metalab.run.abcdef01"
        assert runtime.scratch_dir.name.startswith("metalab_abcdef01_")
        assert runtime.metadata == {"gpu": True}
    finally:
        shutil.rmtree(runtime.scratch_dir)
    assert create_runtime("r", scratch_dir=tmp_path).scratch_dir == tmp_path
