"""Give one account rwx on a directory tree, now and on what is created in it later.

Usage: python3 scripts/share_dir.py UID DIR

Adds ``user:UID:rwx`` to the access and default POSIX ACLs of DIR and of every directory under
it that root owns (a directory another account owns, e.g. a PostgreSQL data directory, is
neither changed nor entered). A directory or file created later under DIR inherits the entry,
whoever creates it. Entries already there are kept; the mask is recomputed, like ``setfacl -m``
(which this stands in for: the ``acl`` package is often not installed). Exits 3 when the file
system has no POSIX ACLs.
"""

from __future__ import annotations

import errno
import os
import struct
import sys
from pathlib import Path

ACCESS = "system.posix_acl_access"
DEFAULT = "system.posix_acl_default"
VERSION = 2
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
NO_ID = 0xFFFFFFFF
ENTRY = struct.Struct("<HHI")  # tag, permissions, id

Acl = dict[tuple[int, int], int]  # (tag, id) -> rwx bits


def from_mode(mode: int) -> Acl:
    """The minimal ACL that the permission bits ``mode`` stand for."""
    return {
        (USER_OBJ, NO_ID): mode >> 6 & 7,
        (GROUP_OBJ, NO_ID): mode >> 3 & 7,
        (OTHER, NO_ID): mode & 7,
    }


def decode(raw: bytes) -> Acl:
    return {(tag, ident): perm for tag, perm, ident in ENTRY.iter_unpack(raw[4:])}


def encode(acl: Acl) -> bytes:
    entries = (ENTRY.pack(tag, perm, ident) for (tag, ident), perm in sorted(acl.items()))
    return struct.pack("<I", VERSION) + b"".join(entries)


def with_user(acl: Acl, uid: int) -> Acl:
    """``acl`` plus ``user:uid:rwx``, its mask the union of the group class (as setfacl does)."""
    result = {key: perm for key, perm in acl.items() if key[0] != MASK}
    result[(USER, uid)] = 7
    mask = 0
    for (tag, _), perm in result.items():
        if tag in (USER, GROUP_OBJ, GROUP):
            mask |= perm
    result[(MASK, NO_ID)] = mask
    return result


def read(path: Path, name: str) -> Acl | None:
    try:
        return decode(os.getxattr(path, name, follow_symlinks=False))
    except OSError as exc:
        if exc.errno == errno.ENODATA:
            return None
        raise


def share(path: Path, uid: int) -> None:
    access = read(path, ACCESS) or from_mode(path.lstat().st_mode)
    default = read(path, DEFAULT) or {k: v for k, v in access.items() if k[0] != MASK}
    os.setxattr(path, ACCESS, encode(with_user(access, uid)), follow_symlinks=False)
    os.setxattr(path, DEFAULT, encode(with_user(default, uid)), follow_symlinks=False)


def root_owned_dirs(top: Path) -> list[Path]:
    """``top`` and the directories under it owned by root, without entering any other's."""
    found = [top]
    for parent, names, _ in os.walk(top):
        kept = []
        for name in names:
            path = Path(parent, name)
            if not path.is_symlink() and path.lstat().st_uid == 0:
                kept.append(name)
                found.append(path)
        names[:] = kept
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[0].isdigit():
        print("usage: share_dir.py UID DIR", file=sys.stderr)
        return 2
    uid, top = int(argv[0]), Path(argv[1])
    try:
        for path in root_owned_dirs(top):
            share(path, uid)
    except OSError as exc:
        if exc.errno != errno.EOPNOTSUPP:
            raise
        print(f"{top}: this file system has no POSIX ACLs", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
