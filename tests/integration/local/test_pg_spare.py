"""Real PostgreSQL: a cold start takes the spare data directory, a detached child refills it,
and a spare that fails a check (symlink, foreign owner, group/other bits, wrong PG_VERSION) is
never taken."""

from __future__ import annotations

import os
import pwd
import shutil
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from metalab_orchestrator.runtime.accounts import Account
from metalab_orchestrator.runtime.pg_binaries import find_pg_binaries
from metalab_orchestrator.runtime.pg_handle import PostgresHandle, PostgresSettings
from metalab_orchestrator.runtime.pg_spare import build_spare, spare_path
from metalab_orchestrator.runtime.pg_template import ensure_template
from metalab_orchestrator.runtime.postgres import start_postgres
from tests.support.pg_spare import refills_under, wait_for_refills
from tests.support.postgres import connect_handle

pytestmark = pytest.mark.postgres

MARK = "metalab-test-spare"
PATIENCE = 120.0  # generous: a refill is niced on a shared machine; never a timing assertion


def _poll(condition: object, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + PATIENCE
    while not condition():
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.05)


class Cache:
    """A per-test template root holding a copy of the session's template."""

    def __init__(self, root: Path, key: str, account: Account | None) -> None:
        self.root, self.key, self.account = root, key, account
        self.uid = os.geteuid() if account is None else account.uid

    @property
    def spare(self) -> Path:
        return spare_path(self.root, self.key, self.uid)

    def build(self) -> os.stat_result:
        """A ready spare, marked so that a data directory made from it is recognised."""
        assert build_spare(self.root, self.key, self.account)
        (self.spare / MARK).write_text("taken\n")
        return os.lstat(self.spare)

    def refilled(self) -> bool:
        return (self.spare / "PG_VERSION").is_file() and not self.builders()

    def builders(self) -> list[str]:
        return refills_under(self.root)


@pytest.fixture
def cache(
    work: Path, template_root: Path, run_as: str | None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Cache]:
    account = Account.named(run_as) if run_as else None
    template = ensure_template(
        find_pg_binaries(), superuser="metalab", account=account, root=template_root
    )
    root = work / "templates"
    root.mkdir(mode=0o755)
    shutil.copytree(template, root / template.name, symlinks=True)
    monkeypatch.setenv("METALAB_PG_TEMPLATE_DIR", str(root))
    monkeypatch.delenv("METALAB_PG_SPARE", raising=False)
    kit = Cache(root, template.name, account)
    yield kit
    assert wait_for_refills(root) == []  # no process is left behind


def _start(work: Path, name: str, run_as: str | None, servers: list[PostgresHandle]) -> Path:
    data_dir = work / name
    run_dir = work / f"{name.replace('/', '-')}-run"
    handle = start_postgres(PostgresSettings(run_as=run_as), data_dir=data_dir, run_dir=run_dir)
    servers.append(handle)
    with connect_handle(handle) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    return data_dir


def _inode(path: Path) -> tuple[int, int]:
    st = os.lstat(path)
    return st.st_dev, st.st_ino


def test_a_cold_start_takes_the_spare_and_a_refill_makes_the_next(work, servers, run_as, cache):
    first = _start(work, "first", run_as, servers)  # no spare yet: a copy, then a refill
    _poll(cache.refilled, "the first spare")
    spare = os.lstat(cache.spare)
    assert stat.S_ISDIR(spare.st_mode) and stat.S_IMODE(spare.st_mode) == 0o700
    assert spare.st_uid == cache.uid
    assert _inode(first) != (spare.st_dev, spare.st_ino)

    second = _start(work, "new/second", run_as, servers)  # its parent is made too, as by `up`
    assert _inode(second) == (spare.st_dev, spare.st_ino)  # renamed, not copied
    assert os.lstat(second).st_uid == cache.uid
    _poll(cache.refilled, "the refill after the take")
    assert _inode(cache.spare) != _inode(second)
    assert [p.name for p in cache.root.iterdir() if "spare-build" in p.name] == []


def _symlink(cache: Cache, work: Path) -> Path:
    elsewhere = work / "elsewhere"
    os.rename(cache.spare, elsewhere)
    cache.spare.symlink_to(elsewhere)
    return elsewhere


def _group_bits(cache: Cache, work: Path) -> Path:
    cache.spare.chmod(0o750)
    return cache.spare


def _wrong_version(cache: Cache, work: Path) -> Path:
    (cache.spare / "PG_VERSION").write_text("9.6\n")
    return cache.spare


@pytest.mark.parametrize("spoil", [_symlink, _group_bits, _wrong_version])
def test_a_spare_failing_a_check_is_not_taken(work, servers, run_as, cache, spoil):
    cache.build()
    checked = spoil(cache, work)
    data_dir = _start(work, "pgdata", run_as, servers)
    assert not (data_dir / MARK).exists()
    if spoil is _symlink:
        assert (checked / MARK).is_file()  # the symlink's target was not touched
    _poll(lambda: not cache.builders(), "the refill to exit")


@pytest.mark.root(reason="giving the spare to another uid needs root")
def test_a_spare_of_another_owner_is_neither_taken_nor_removed(
    work, servers, run_as, cache, intruder
):
    built = cache.build()
    other = pwd.getpwnam(intruder)
    for dirpath, dirnames, filenames in os.walk(cache.spare):
        for name in [".", *dirnames, *filenames]:
            os.chown(os.path.join(dirpath, name), other.pw_uid, other.pw_gid, follow_symlinks=False)
    data_dir = _start(work, "pgdata", run_as, servers)
    assert not (data_dir / MARK).exists()
    assert _inode(cache.spare) == (built.st_dev, built.st_ino)
    assert os.lstat(cache.spare).st_uid == other.pw_uid


def test_metalab_pg_spare_0_neither_takes_nor_makes_a_spare(
    work, servers, run_as, cache, monkeypatch
):
    built = cache.build()
    monkeypatch.setenv("METALAB_PG_SPARE", "0")
    data_dir = _start(work, "pgdata", run_as, servers)
    assert not (data_dir / MARK).exists()
    assert _inode(cache.spare) == (built.st_dev, built.st_ino)
    shutil.rmtree(cache.spare)
    _start(work, "again", run_as, servers)
    assert cache.builders() == []
    assert not os.path.lexists(cache.spare)


def test_a_crashed_refill_is_cleaned_by_the_next(work, servers, run_as, cache):
    stale = cache.root / f".{cache.key}.spare-build-dead01"
    stale.mkdir(mode=0o700)
    (stale / "PG_VERSION").write_text("half a copy\n")
    _start(work, "pgdata", run_as, servers)
    _poll(cache.refilled, "the refill")
    assert not stale.exists()
