"""Which OS account a service runs as, and whether that account can reach a directory."""

from __future__ import annotations

import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path

from metalab.core.errors import ProvisioningFailed


@dataclass(frozen=True)
class Account:
    """An OS account: name, uid, primary gid and every group it belongs to."""

    name: str
    uid: int
    gid: int
    groups: frozenset[int]

    @classmethod
    def named(cls, name: str) -> Account:
        """Look up ``name``; raises ``KeyError`` when there is no such account."""
        entry = pwd.getpwnam(name)
        return cls(name, entry.pw_uid, entry.pw_gid, frozenset(os.getgrouplist(name, entry.pw_gid)))

    @classmethod
    def current(cls) -> Account:
        """The effective user of this process."""
        uid = os.geteuid()
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        return cls(name, uid, os.getegid(), frozenset(os.getgroups()) | {os.getegid()})


def resolve_service_account(run_as: str | None, *, service: str, key: str) -> Account | None:
    """The account to switch to, or None to run as ourselves.

    As root, ``run_as`` is required and must name an existing non-root account; as anyone
    else the service runs as the current user (``run_as`` is ignored).
    """
    if os.geteuid() != 0:
        return None
    if run_as is None:
        raise ProvisioningFailed(
            f'{service} refuses to run as root: set {key} = "<user>" in .metalab.local.toml '
            "or run metalab as a normal user"
        )
    try:
        account = Account.named(run_as)
    except KeyError:
        raise ProvisioningFailed(f"{key}: user {run_as!r} does not exist on this machine") from None
    if account.uid == 0:
        raise ProvisioningFailed(f"{service} refuses to run as root: {key} names a root account")
    return account


def may_traverse(mode: int, owner: int, group: int, account: Account) -> bool:
    """Whether ``account`` may search a directory with this mode and ownership (no ACLs)."""
    if account.uid == 0:
        return True
    if owner == account.uid:
        return bool(mode & stat.S_IXUSR)
    if group in account.groups:
        return bool(mode & stat.S_IXGRP)
    return bool(mode & stat.S_IXOTH)


def first_blocked_dir(path: Path, account: Account) -> Path | None:
    """The first existing ancestor of ``path`` (itself included) ``account`` cannot enter."""
    path = path.absolute()
    for directory in [*reversed(path.parents), path]:
        try:
            st = directory.stat()
        except FileNotFoundError:
            return None
        if not may_traverse(st.st_mode, st.st_uid, st.st_gid, account):
            return directory
    return None


def require_traversable(path: Path, account: Account, *, what: str) -> None:
    """Raise a one-line ``ProvisioningFailed`` naming the directory ``account`` cannot enter."""
    blocked = first_blocked_dir(path, account)
    if blocked is not None:
        raise ProvisioningFailed(
            f"directory {blocked} is not accessible to user {account.name} (needed for {what}); "
            f"make it searchable (chmod o+x) or choose a location outside it"
        )
