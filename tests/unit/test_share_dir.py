"""scripts/share_dir.py: the POSIX ACL entry that lets the containers' account use root's dirs."""

from __future__ import annotations

import errno
import importlib.util
import os
import stat
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "share_dir.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("share_dir", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


share_dir = load()
NO_ID = share_dir.NO_ID
USER_OBJ, USER, GROUP_OBJ, MASK, OTHER = (
    share_dir.USER_OBJ,
    share_dir.USER,
    share_dir.GROUP_OBJ,
    share_dir.MASK,
    share_dir.OTHER,
)


def test_mode_bits_become_the_minimal_acl() -> None:
    assert share_dir.from_mode(0o750) == {
        (USER_OBJ, NO_ID): 7,
        (GROUP_OBJ, NO_ID): 5,
        (OTHER, NO_ID): 0,
    }


def test_the_entry_is_added_and_the_mask_covers_the_group_class() -> None:
    acl = share_dir.with_user(share_dir.from_mode(0o755), 1000)
    assert acl[(USER, 1000)] == 7 and acl[(MASK, NO_ID)] == 7
    assert acl[(USER_OBJ, NO_ID)] == 7 and acl[(OTHER, NO_ID)] == 5


def test_entries_already_there_are_kept() -> None:
    acl = share_dir.with_user({**share_dir.from_mode(0o700), (USER, 42): 4, (MASK, NO_ID): 4}, 1000)
    assert acl[(USER, 42)] == 4 and acl[(USER, 1000)] == 7 and acl[(MASK, NO_ID)] == 7


def test_encoding_is_the_kernel_layout_sorted_by_tag_then_id() -> None:
    acl = share_dir.with_user({**share_dir.from_mode(0o755), (USER, 7): 5}, 1000)
    raw = share_dir.encode(acl)
    assert raw[:4] == (2).to_bytes(4, "little") and len(raw) == 4 + 8 * len(acl)
    assert share_dir.decode(raw) == acl
    tags = [int.from_bytes(raw[i : i + 2], "little") for i in range(4, len(raw), 8)]
    assert tags == sorted(tags)
    users = [
        int.from_bytes(raw[i + 4 : i + 8], "little")
        for i in range(4, len(raw), 8)
        if raw[i] == USER
    ]
    assert users == [7, 1000]


@pytest.mark.root(reason="directories owned by root and by another account need root")
def test_root_owned_dirs_are_shared_and_others_are_not_entered(tmp_path: Path) -> None:
    (tmp_path / "project/runs").mkdir(parents=True)
    (tmp_path / "pgdata/base").mkdir(parents=True)
    os.chown(tmp_path / "pgdata", 1000, 1000)
    found = share_dir.root_owned_dirs(tmp_path)
    assert set(found) == {tmp_path, tmp_path / "project", tmp_path / "project/runs"}


def test_a_directory_created_later_inherits_the_entry(tmp_path: Path) -> None:
    try:
        code = share_dir.main(["1000", str(tmp_path)])
    except OSError as exc:  # e.g. an unprivileged user on a file system refusing the xattr
        pytest.skip(f"no POSIX ACLs here: {errno.errorcode.get(exc.errno or 0, exc)}")
    if code == 3:
        pytest.skip("this file system has no POSIX ACLs")
    assert code == 0
    later = tmp_path / "project"
    later.mkdir(mode=0o755)
    inherited = share_dir.read(later, share_dir.ACCESS)
    assert inherited is not None and inherited[(USER, 1000)] == 7
    assert stat.S_IMODE(tmp_path.stat().st_mode) & 0o070 == 0o070  # the mask shows as group bits
