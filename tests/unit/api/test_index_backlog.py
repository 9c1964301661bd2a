"""IndexBacklog's markers and claims (pure filesystem logic)."""

from __future__ import annotations

import os
import time
from pathlib import Path

from metalab.core.intent_journal import JOURNAL, STALE, TOUCH, outstanding
from metalab.store.index_backlog import PENDING_DIR, QUIET, IndexBacklog


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


def journals(directory: Path) -> list[Path]:
    return [p for p in (directory / PENDING_DIR).iterdir() if p.name.startswith(JOURNAL)]


def age(path: Path, seconds: float) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def keys(path: Path) -> list[str]:
    return [entry["key"] for entry in outstanding(path.read_bytes())]


def test_what_a_dead_writer_left_under_way_becomes_markers(tmp_path: Path) -> None:
    backlog = IndexBacklog(tmp_path, "exp:1", nested=False)
    backlog.settle(backlog.intend("record", "r1"))
    backlog.intend("record", "r2")
    backlog.intend("manifest", "20261205_1", "exp:1")
    backlog.settle(backlog.intend("derived", "r3"))  # settled, not yet said in the file
    [journal] = journals(tmp_path)
    assert keys(journal) == ["r2", "20261205_1", "r3"]  # r1's settling went with r2's line
    assert not backlog.pending() and backlog.count() == 0  # written just now: under way
    age(journal, STALE + 1)  # its writer was killed a minute ago
    assert not backlog.pending() and backlog.count() == 3  # found by count, not by reads
    items = {item.key: item for item in backlog.take()}
    assert sorted(items) == ["20261205_1", "r2", "r3"]  # r3 redone once more: an upsert
    assert (items["r2"].kind, items["r2"].scope) == ("record", "exp:1")
    assert items["20261205_1"].experiment_id == "exp:1"
    for item in items.values():
        IndexBacklog.done(item)
    assert keys(journal) == [] and not backlog.pending() and backlog.count() == 0
    age(journal, STALE + 1)
    assert list(backlog.take()) == [] and journals(tmp_path) == []  # nothing left: removed


def test_an_idle_writer_whose_journal_was_removed_starts_a_new_one(tmp_path: Path) -> None:
    backlog = IndexBacklog(tmp_path, None, nested=False)
    slow = backlog.intend("record", "r1")  # its index write hangs for minutes
    [journal] = journals(tmp_path)
    age(journal, STALE + 1)
    [item] = list(backlog.take())  # redone from the files meanwhile
    IndexBacklog.done(item)
    backlog.settle(slow)
    age(journal, STALE + 1)
    assert list(backlog.take()) == [] and journals(tmp_path) == []
    backlog._journal._touched -= TOUCH + 1  # noqa: SLF001 - the writer idled meanwhile
    backlog.intend("record", "r2")
    [again] = journals(tmp_path)
    assert again != journal and keys(again) == ["r2"]


def test_close_removes_a_journal_with_nothing_under_way(tmp_path: Path) -> None:
    backlog = IndexBacklog(tmp_path, None, nested=False)
    backlog.settle(backlog.intend("record", "r1"))
    backlog.close()
    assert journals(tmp_path) == []
    busy = IndexBacklog(tmp_path, None, nested=False)
    busy.intend("record", "r2")
    busy.settle(busy.intend("record", "r3"))
    busy.close()  # r2 is still under way: kept, with r3 said settled
    [kept] = journals(tmp_path)
    assert keys(kept) == ["r2"]


def test_a_forked_child_writes_its_own_journal(tmp_path: Path) -> None:
    backlog = IndexBacklog(tmp_path, None, nested=False)
    backlog.intend("record", "parent")
    child = os.fork()
    if child == 0:  # pragma: no cover - the child's exit status is the check
        try:
            backlog.intend("record", "child")
            os._exit(0)
        finally:
            os._exit(1)
    assert os.waitpid(child, 0)[1] == 0
    assert sorted(keys(p) for p in journals(tmp_path)) == [["child"], ["parent"]]


def test_a_journal_that_cannot_be_made_does_not_stop_the_writes(tmp_path: Path) -> None:
    (tmp_path / PENDING_DIR).write_text("not a directory")
    backlog = IndexBacklog(tmp_path, None, nested=False)
    first = backlog.intend("record", "r1")  # a one-line warning, and the write goes on
    backlog.settle(first)
    assert backlog.intend("record", "r2") == first + 1
    backlog.close()
