"""IndexBacklog's markers and claims (pure filesystem logic)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from metalab.store.index_backlog import PENDING_DIR, QUIET, STALE_INTENT, IndexBacklog


def test_each_marker_is_claimed_once_across_backlogs(tmp_path: Path) -> None:
    writer = IndexBacklog(tmp_path / "exp", "exp:1", nested=False)
    (tmp_path / "exp").mkdir()
    for key in ("a", "b", "c"):
        writer.add("record", key)
    writer.add("record", "a")  # twice: still one marker
    assert writer.count() == 3 and writer.pending()
    first = IndexBacklog(tmp_path / "exp", "exp:1", nested=False).take()
    second = IndexBacklog(tmp_path, None, nested=True).take()  # unscoped: the nested dirs
    seen = [next(first).key, next(second).key, next(first).key]
    assert sorted(seen) == ["a", "b", "c"]
    assert list(second) == [] and list(first) == []
    assert writer.count() == 0 and writer.pending()  # claims in progress still count


def test_release_gives_a_claim_back_and_a_new_failure_is_not_lost(tmp_path: Path) -> None:
    backlog = IndexBacklog(tmp_path, None, nested=False)
    backlog.add("derived", "r1", "exp:1")
    [item] = list(backlog.take())
    assert (item.kind, item.key, item.scope) == ("derived", "r1", None)
    backlog.add("derived", "r1")  # the writer fails again while the claim is redone
    IndexBacklog.done(item)
    assert backlog.count() == 1  # the newer failure's marker stays
    [again] = list(backlog.take())
    IndexBacklog.release(again)
    assert backlog.count() == 1 and not list((tmp_path / PENDING_DIR).glob(".*claim*"))


def test_a_stale_claim_is_taken_over(tmp_path: Path) -> None:
    backlog = IndexBacklog(tmp_path, None, nested=False)
    backlog.add("record", "r1")
    [item] = list(backlog.take())  # its catch-up dies here
    assert list(backlog.take()) == []
    old = time.time() - 3600
    os.utime(item.claim, (old, old))
    [taken] = list(backlog.take())
    assert taken.key == "r1" and taken.claim != item.claim


def test_down_is_remembered_for_quiet_seconds(tmp_path: Path) -> None:
    backlog = IndexBacklog(tmp_path, None, nested=False)
    assert not backlog.recently_down()
    backlog.mark_down()
    assert backlog.recently_down() and not backlog.pending()  # .down is not a marker
    old = time.time() - QUIET - 1
    os.utime(tmp_path / PENDING_DIR / ".down", (old, old))
    assert not backlog.recently_down()
    backlog.mark_down()
    backlog.clear_down()
    assert not backlog.recently_down()


def test_an_intent_is_settled_deferred_or_taken_once_stale(tmp_path: Path) -> None:
    backlog = IndexBacklog(tmp_path, "exp:1", nested=False)
    settled = backlog.intend("record", "r1")
    assert not backlog.pending() and backlog.count() == 0  # a write under way is not behind
    IndexBacklog.settle(settled)
    assert list((tmp_path / PENDING_DIR).iterdir()) == []
    backlog.defer(backlog.intend("derived", "r2"))  # its index write failed
    assert [p.name for p in (tmp_path / PENDING_DIR).iterdir()] == ["derived-r2"]
    left = backlog.intend("manifest", "20261205_1", "exp:1")  # its writer is killed here
    [deferred] = list(backlog.take())
    IndexBacklog.done(deferred)
    assert deferred.key == "r2" and backlog.count() == 0 and not backlog.pending()
    old = time.time() - STALE_INTENT - 1
    os.utime(left, (old, old))
    assert backlog.count() == 1 and IndexBacklog(tmp_path, "exp:1", nested=False).pending()
    [item] = list(backlog.take())
    assert (item.kind, item.key, item.scope, item.experiment_id) == (
        "manifest",
        "20261205_1",
        "exp:1",
        "exp:1",
    )
    assert not left.exists()
    backlog.defer(left)  # the writer was only slow: the catch-up redoes it anyway
    IndexBacklog.done(item)
    assert backlog.count() == 0 and not backlog.pending()
