"""Where bundle.json lives, and reading/writing it safely (no gRPC needed).

Reading treats the file as untrusted, as OpenSSH's StrictModes does: the services directory
must belong to the caller and be writable by nobody else, the file is opened without following
a symlink and must be a regular file of the caller's with no group or other permission bits,
and its content must fit `BundleModel`. A failed check is one `BundleRefused` line.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from metalab.core.bundle.model import Bundle, BundleModel, check_name
from metalab.core.errors import BundleError, BundleRefused, ConfigError
from metalab.core.fs import read_capped, write_atomic

SCHEMA_VERSION = 1
BUNDLE_NAME = "bundle.json"
MAX_BUNDLE_BYTES = 1 << 20  # a real bundle is ~2 KB


def home_services_dir() -> Path:
    """``~/.metalab/services`` (``METALAB_HOME`` replaces ``~/.metalab``)."""
    root = os.environ.get("METALAB_HOME") or str(Path.home() / ".metalab")
    return Path(root) / "services"


def bundle_path(project: str, environment: str, file_root: str | None) -> Path:
    """``{file_root}/services/bundle.json``, else ``~/.metalab/services/{project}/{env}/``."""
    check_name(project, "project")
    check_name(environment, "environment")
    if file_root:
        if "\0" in file_root:
            raise ConfigError("file_root holds a NUL character", key="file_root")
        return Path(file_root) / "services" / BUNDLE_NAME
    return home_services_dir() / project / environment / BUNDLE_NAME


def check_services_dir(directory: Path, root_reads_owner: bool = False) -> int:
    """The uid a bundle in ``directory`` must belong to: the caller's. `BundleRefused` unless
    ``directory`` belongs to that account and nobody else may write it (a group- or
    world-writable directory lets another account plant a bundle).

    ``root_reads_owner``: root, which may read any account's files anyway, also reads a bundle
    in another account's private services directory (a compose stack's account writes the
    bundles its root operator discovers); only read-only uses (``discover``) ask for this.
    """
    me = os.geteuid()
    try:
        st = os.stat(directory)
    except FileNotFoundError:
        return me
    except OSError as exc:
        raise BundleRefused(f"{directory}: cannot inspect ({exc.strerror})") from None
    if root_reads_owner and me == 0:
        me = st.st_uid
    if st.st_uid != me:
        raise BundleRefused(
            f"{directory} belongs to uid {st.st_uid}, not to you (uid {os.geteuid()}); "
            "refusing its bundle"
        )
    if st.st_mode & 0o022:
        raise BundleRefused(
            f"{directory} is writable by others (mode {stat.S_IMODE(st.st_mode):04o}); "
            f"refusing its bundle: chmod go-w {directory}"
        )
    return me


def read_bundle_bytes(path: Path, root_reads_owner: bool = False) -> bytes | None:
    """The bytes of the bundle at ``path`` once its directory and the file pass the checks
    (see the module docstring and `check_services_dir`); None when there is no bundle."""
    owner = check_services_dir(path.parent, root_reads_owner)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if os.path.islink(path):
            raise BundleRefused(
                f"{path} is a symbolic link; metalab reads only a bundle it wrote (remove it)"
            ) from None
        raise BundleError(f"{path}: cannot read bundle: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise BundleRefused(f"{path} is not a regular file; refusing it")
        if st.st_uid != owner:
            raise BundleRefused(
                f"{path} belongs to uid {st.st_uid}, not to uid {owner}; refusing it"
            )
        if st.st_mode & 0o077:
            raise BundleRefused(
                f"{path} has mode {stat.S_IMODE(st.st_mode):04o}; a bundle must be 0600 "
                f"(chmod 600 {path})"
            )
        raw = read_capped(fd, MAX_BUNDLE_BYTES)
    finally:
        os.close(fd)
    if raw is None:
        raise BundleError(f"{path}: bundle larger than {MAX_BUNDLE_BYTES} bytes")
    return raw


def read_bundle(
    path: Path,
    project: str | None = None,
    environment: str | None = None,
    *,
    root_reads_owner: bool = False,
) -> Bundle | None:
    """The bundle at ``path``; None when absent; `BundleRefused` when it fails the ownership
    checks or (given ``project`` and ``environment``) belongs to another environment;
    `BundleError` when corrupt or foreign."""
    raw = read_bundle_bytes(path, root_reads_owner)
    if raw is None:
        return None
    bundle = parse_bundle(path, raw)
    if project is not None and environment is not None:
        check_identity(path, bundle, project, environment)
    return bundle


def check_identity(path: object, bundle: Bundle, project: str, environment: str) -> None:
    """`BundleRefused` unless ``bundle`` is the one of ``project``/``environment``."""
    found = (bundle.get("project"), bundle.get("environment"))
    if found != (project, environment):
        raise BundleRefused(
            f"{path} is the bundle of {found[0] or '?'}/{found[1] or '?'}, not of "
            f"{project}/{environment}; refusing it (environments sharing a file_root share "
            "one bundle: give each its own)"
        )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a bundle may hold")


def parse_bundle(path: Path, raw: bytes) -> Bundle:
    """The bundle in ``raw`` (read from ``path``), validated by `BundleModel`; `BundleError`
    (one line) when it is corrupt, wrongly shaped or of a foreign schema version."""
    try:
        bundle = json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError, NaN
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise BundleError(
            f"{path}: corrupt bundle ({reason}); `metalab services down` stops what its "
            "services directory records"
        ) from None
    if not isinstance(bundle, dict):
        raise BundleError(f"{path}: corrupt bundle (not a JSON object)")
    version = bundle.get("schema_version")
    if version != SCHEMA_VERSION:
        raise BundleError(
            f"{path}: bundle schema_version {repr(version)[:40]} is not supported "
            f"(this metalab reads version {SCHEMA_VERSION})"
        )
    try:
        BundleModel.from_dict(bundle)
    except BundleError as exc:
        raise BundleError(f"{path}: {exc}") from None
    return bundle


def write_bundle(path: Path, bundle: Bundle) -> None:
    """Write atomically with mode 0600 from birth."""
    data = json.dumps({**bundle, "schema_version": SCHEMA_VERSION}, indent=2, sort_keys=True)
    write_atomic(path, data.encode() + b"\n")


def delete_bundle(path: Path) -> bool:
    """Remove the bundle; True when one was removed."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    return True
