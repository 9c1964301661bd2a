"""A cached, already-initialised PostgreSQL cluster, copied to make new data directories.

``initdb`` costs seconds; copying its result costs a fraction of that. Templates are keyed by
major version, bootstrap superuser, encoding and locale, built once under an exclusive file lock
(``fcntl.flock``) in a staging directory and renamed into place, so a template directory either
is complete or does not exist. The template's pg_hba allows only peer (local) connections and
rejects TCP; ``postgres.py`` rewrites it in every copy.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from metalab.core.errors import ProvisioningFailed

from .accounts import Account, first_blocked_dir
from .pg_binaries import PgBinaries

FORMAT = "v3"  # bump when the initdb flags below change
INITDB_TIMEOUT = 180.0


def default_template_root(environ: Mapping[str, str] | None = None) -> Path:
    """``METALAB_PG_TEMPLATE_DIR``, else ``$XDG_CACHE_HOME/metalab/pg-templates``."""
    env = os.environ if environ is None else environ
    if env.get("METALAB_PG_TEMPLATE_DIR"):
        return Path(env["METALAB_PG_TEMPLATE_DIR"])
    cache = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "metalab" / "pg-templates"


def template_key(major: str, superuser: str, encoding: str, locale: str) -> str:
    """A readable, collision-free directory name for one template flavour."""
    raw = f"{FORMAT}|{major}|{superuser}|{encoding}|{locale}"
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", f"pg{major}-{superuser}-{encoding}-{locale}")
    return f"{readable}-{hashlib.sha256(raw.encode()).hexdigest()[:10]}"


def make_dirs(path: Path, mode: int = 0o755) -> None:
    """``mkdir -p`` with an explicit mode for every directory created (umask still applies)."""
    missing = []
    for directory in [path, *path.parents]:
        if directory.exists():
            break
        missing.append(directory)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=mode)
        except FileExistsError:
            pass


def chown_tree(root: Path, account: Account) -> None:
    """Give ``root`` and everything below it to ``account`` (its primary group)."""
    os.chown(root, account.uid, account.gid)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            os.chown(os.path.join(dirpath, name), account.uid, account.gid, follow_symlinks=False)


SPARE_DATABASE = "metalab_spare"  # renamed to the configured database on first start


def _run_as(
    argv: list[str], bins: PgBinaries, account: Account | None, what: str, stdin: str | None = None
) -> None:
    env = {"PATH": f"{bins.bindir}:/usr/bin:/bin", "LC_ALL": "C"}
    result = subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd="/",
        timeout=INITDB_TIMEOUT,
        check=False,
        user=account.uid if account else None,
        group=account.gid if account else None,
        extra_groups=sorted(account.groups) if account else None,
    )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).strip()
        raise ProvisioningFailed(
            f"{what} failed with exit code {result.returncode} building a PostgreSQL template",
            log_tail="\n".join(output.splitlines()[-20:]),
        )


def _initialise(
    bins: PgBinaries,
    data: Path,
    superuser: str,
    encoding: str,
    locale: str,
    account: Account | None,
) -> None:
    """initdb, add a spare database (so first start renames instead of CREATE DATABASE),
    then flush everything to disk once so the cached template survives a crash."""
    _run_as(
        [
            str(bins.initdb),
            "--no-sync",
            "-D",
            str(data),
            "-U",
            superuser,
            "-E",
            encoding,
            f"--locale={locale}",
            "--auth-local=peer",
            "--auth-host=reject",
            # 1 MB WAL segments: a new cluster is 28 MB instead of 39 (pg_wal 1 MB instead of
            # 16) for every `up` that copies the template; a run index writes little WAL.
            "--wal-segsize=1",
        ],
        bins,
        account,
        "initdb",
    )
    _run_as(
        [
            str(bins.postgres),
            "--single",
            "-F",
            "-D",
            str(data),
            "-c",
            "log_statement=none",
            "postgres",
        ],
        bins,
        account,
        "postgres --single",
        stdin=f"CREATE DATABASE {SPARE_DATABASE};\n",
    )
    _run_as([str(bins.initdb), "--sync-only", "-D", str(data)], bins, account, "initdb --sync-only")


def _build(
    bins: PgBinaries,
    final: Path,
    key: str,
    superuser: str,
    encoding: str,
    locale: str,
    account: Account | None,
) -> None:
    root = final.parent
    for stale in root.glob(f".{key}.build-*"):  # left by a builder that died holding the lock
        shutil.rmtree(stale, ignore_errors=True)
    in_root = account is None or first_blocked_dir(root, account) is None
    staging = Path(tempfile.mkdtemp(prefix=f".{key}.build-", dir=root if in_root else None))
    try:
        if account is not None:
            os.chown(staging, account.uid, account.gid)
        _initialise(bins, staging / "data", superuser, encoding, locale, account)
        if in_root:
            os.rename(staging / "data", final)
        else:  # built in /tmp because run_as cannot reach the cache: copy, then rename
            copy = Path(tempfile.mkdtemp(prefix=f".{key}.build-", dir=root)) / "data"
            shutil.copytree(staging / "data", copy, symlinks=True)
            os.rename(copy, final)
            shutil.rmtree(copy.parent, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def ensure_template(
    bins: PgBinaries,
    *,
    superuser: str,
    account: Account | None,
    root: Path | None = None,
    encoding: str = "UTF8",
    locale: str = "C",
) -> Path:
    """Return the template cluster for these settings, running initdb once if it is missing.

    ``account`` is the non-root user initdb runs as (None: the current user).
    """
    root = default_template_root() if root is None else root
    key = template_key(bins.major, superuser, encoding, locale)
    final = root / key
    if (final / "PG_VERSION").is_file():
        return final
    make_dirs(root)
    lock_fd = os.open(root / f"{key}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX)
        if not (final / "PG_VERSION").is_file():
            _build(bins, final, key, superuser, encoding, locale, account)
    finally:
        os.close(lock_fd)  # releases the lock
    return final


def copy_template(template: Path, data_dir: Path, account: Account | None) -> None:
    """Create ``data_dir`` (mode 0700, owned by ``account``) as a copy of ``template``.

    The copy is made beside ``data_dir`` and renamed, so ``data_dir`` is never half-made.
    An existing empty ``data_dir`` is replaced; a non-empty one is an error.
    """
    make_dirs(data_dir.parent)
    staging = data_dir.parent / f".{data_dir.name}.copy-{secrets.token_hex(4)}"
    done = False
    try:
        shutil.copytree(template, staging, symlinks=True)
        os.chmod(staging, 0o700)
        if account is not None:
            chown_tree(staging, account)
        if data_dir.is_dir() and not any(data_dir.iterdir()):
            data_dir.rmdir()
        try:
            os.rename(staging, data_dir)
        except OSError as exc:
            raise ProvisioningFailed(
                f"cannot create PostgreSQL data directory {data_dir}: {exc.strerror}"
            ) from exc
        done = True
    finally:
        if not done:
            shutil.rmtree(staging, ignore_errors=True)
