"""The spare's take decision without PostgreSQL: `judge`, a failed rename (EXDEV, ENOENT)
falling back, the lock that keeps two builders apart, and METALAB_PG_SPARE."""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

import pytest

from metalab_orchestrator.runtime.pg_spare import (
    Verdict,
    build_spare,
    judge,
    lock_path,
    spares_enabled,
    take_spare,
)

UID = os.geteuid()


def _spare(tmp_path: Path, version: str = "16") -> Path:
    spare = tmp_path / "key.spare-0"
    spare.mkdir(mode=0o700)
    spare.chmod(0o700)
    (spare / "PG_VERSION").write_text(f"{version}\n")
    return spare


def test_judge_takes_only_a_0700_directory_of_the_account_with_the_right_version(tmp_path):
    spare = _spare(tmp_path)
    st = os.lstat(spare)
    assert judge(st, UID, True) is Verdict.TAKE
    assert judge(st, UID, False) is Verdict.REMOVE
    assert judge(st, UID + 1, True) is Verdict.LEAVE
    for mode in (0o750, 0o705, 0o500, 0o1700):
        spare.chmod(mode)
        assert judge(os.lstat(spare), UID, True) is Verdict.REMOVE, oct(mode)
    link = tmp_path / "link"
    link.symlink_to(spare)
    assert judge(os.lstat(link), UID, True) is Verdict.REMOVE
    assert judge(os.lstat(link), UID + 1, True) is Verdict.LEAVE


@pytest.mark.parametrize("code", [errno.EXDEV, errno.ENOENT])
def test_a_failed_rename_leaves_the_spare_and_falls_back(tmp_path, code):
    spare = _spare(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()

    def rename(src: Path, dst: Path) -> None:
        raise OSError(code, os.strerror(code))

    assert not take_spare(spare, data_dir, uid=UID, version="16", rename=rename)
    assert (spare / "PG_VERSION").is_file()


def test_take_replaces_an_empty_data_dir_and_refuses_a_wrong_version(tmp_path):
    spare = _spare(tmp_path)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    assert not take_spare(spare, data_dir, uid=UID, version="17")
    assert not spare.exists()  # ours and malformed: removed
    spare = _spare(tmp_path)
    assert take_spare(spare, data_dir, uid=UID, version="16")
    assert (data_dir / "PG_VERSION").read_text() == "16\n" and not spare.exists()


def test_a_pg_version_symlink_is_not_followed(tmp_path):
    spare = _spare(tmp_path)
    (spare / "PG_VERSION").unlink()
    (tmp_path / "elsewhere").write_text("16\n")
    (spare / "PG_VERSION").symlink_to(tmp_path / "elsewhere")
    assert not take_spare(spare, tmp_path / "data", uid=UID, version="16")
    assert not (tmp_path / "data").exists()


def test_a_builder_finding_the_lock_held_leaves_it_to_the_holder(tmp_path):
    (tmp_path / "key").mkdir()
    (tmp_path / "key" / "PG_VERSION").write_text("16\n")
    fd = os.open(lock_path(tmp_path, "key"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        assert not build_spare(tmp_path, "key", None)
    finally:
        os.close(fd)
    assert build_spare(tmp_path, "key", None)
    assert not build_spare(tmp_path, "key", None)  # one spare at most
    spares = [p.name for p in tmp_path.iterdir() if ".spare-" in p.name]
    assert spares == [f"key.spare-{UID}"]


def test_metalab_pg_spare_0_turns_spares_off():
    assert spares_enabled({})
    assert spares_enabled({"METALAB_PG_SPARE": "1"})
    assert not spares_enabled({"METALAB_PG_SPARE": "0"})
