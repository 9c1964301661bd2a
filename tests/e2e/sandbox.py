"""Running the repository's scripts as a newcomer would: in a fresh copy, as root or a user.

`repository_copy` copies the working tree (tracked and not-ignored files) with this venv linked
as `.venv` and the wheel cache of build/ reused; `Account` runs a command as another account
(with the Docker socket's group) when the tests run as root.
"""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.e2e.stack import REPO

VENV = Path(sys.prefix)


@dataclass(frozen=True)
class Account:
    """An account to run commands as: ``uid``/``gid`` plus the Docker socket's group."""

    name: str
    uid: int
    gid: int

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()

    def argv(self, *command: str) -> list[str]:
        if self.is_self:
            return list(command)
        docker = str(grp.getgrnam("docker").gr_gid)
        ids = ["--reuid", str(self.uid), "--regid", str(self.gid), "--groups", docker]
        return ["setpriv", *ids, *command]


def normal_account() -> Account:
    """This user when not root; as root, a normal account to switch to.

    ``METALAB_E2E_USER`` names one; else the first with uid 1000-59999; else a free uid with no
    passwd entry (the section needs none: its account is only a uid to the kernel and Docker).
    """
    if os.geteuid() != 0:
        return Account(pwd.getpwuid(os.geteuid()).pw_name, os.geteuid(), os.getegid())
    wanted = os.environ.get("METALAB_E2E_USER")
    users = [pwd.getpwnam(wanted)] if wanted else pwd.getpwall()
    for user in users:
        if 1000 <= user.pw_uid < 60000:
            return Account(user.pw_name, user.pw_uid, user.pw_gid)
    taken = {user.pw_uid for user in pwd.getpwall()}
    uid = next(uid for uid in range(1000, 60000) if uid not in taken)
    return Account(f"uid{uid}", uid, uid)


def repository_copy(into: Path) -> Path:
    """The working tree's files (tracked or not ignored) with this venv and the build cache."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    copy = into / "metalab"
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    (copy / ".venv").symlink_to(VENV)
    cache = REPO / "build"
    if (cache / "wheel-tools/bin/hatchling").exists():
        (copy / "build").mkdir()
        (copy / "build/wheel-tools").symlink_to(cache / "wheel-tools")
        if (cache / "wheelhouse/deps/.stamp").exists():
            shutil.copytree(cache / "wheelhouse/deps", copy / "build/wheelhouse/deps")
    return copy


def chown_tree(top: Path, account: Account) -> None:
    for parent, names, files in os.walk(top):
        for name in [".", *names, *files]:
            os.lchown(Path(parent, name), account.uid, account.gid)
