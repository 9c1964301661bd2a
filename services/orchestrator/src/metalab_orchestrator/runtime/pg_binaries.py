"""Find the PostgreSQL server binaries: METALAB_PG_BIN, then PATH, then /usr/lib/postgresql
(``METALAB_PG_ROOT`` names another directory of versioned installations)."""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from metalab.core.errors import ProvisioningFailed

NAMES = ("initdb", "pg_ctl", "postgres")
DEBIAN_ROOT = Path("/usr/lib/postgresql")
_INSTALL_HINT = (
    "install PostgreSQL (Debian/Ubuntu: apt-get install postgresql) or set METALAB_PG_BIN"
)


@dataclass(frozen=True)
class PgBinaries:
    """Paths of the server programs of one PostgreSQL installation, and its major version."""

    bindir: Path
    initdb: Path
    pg_ctl: Path
    postgres: Path
    major: str


def _complete(bindir: Path) -> bool:
    return all(os.access(bindir / name, os.X_OK) for name in NAMES)


def _debian_bindirs(root: Path) -> list[Path]:
    """``root/*/bin`` sorted by version, highest first."""

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (-1,)

    return sorted(root.glob("*/bin"), key=version, reverse=True)


@functools.lru_cache(maxsize=8)
def _major_version(postgres: Path) -> str:
    out = subprocess.run(
        [str(postgres), "-V"], capture_output=True, text=True, check=False, timeout=10
    )
    match = re.search(r"\(PostgreSQL\) (\d+)", out.stdout)
    if out.returncode != 0 or match is None:
        raise ProvisioningFailed(f"{postgres} -V did not report a PostgreSQL version", out.stderr)
    return match.group(1)


def _binaries(bindir: Path) -> PgBinaries:
    return PgBinaries(
        bindir=bindir,
        initdb=bindir / "initdb",
        pg_ctl=bindir / "pg_ctl",
        postgres=bindir / "postgres",
        major=_major_version(bindir / "postgres"),
    )


def find_pg_binaries(
    environ: Mapping[str, str] | None = None, *, debian_root: Path | None = None
) -> PgBinaries:
    """Locate initdb, pg_ctl and postgres in one directory, or raise ``ProvisioningFailed``."""
    env = os.environ if environ is None else environ
    if debian_root is None:
        debian_root = Path(env.get("METALAB_PG_ROOT") or DEBIAN_ROOT)
    override = env.get("METALAB_PG_BIN")
    if override:
        bindir = Path(override)
        if not _complete(bindir):
            raise ProvisioningFailed(
                f"METALAB_PG_BIN={override} does not contain {', '.join(NAMES)}: {_INSTALL_HINT}"
            )
        return _binaries(bindir)
    on_path = shutil.which("postgres", path=env.get("PATH", os.defpath))
    candidates = [Path(on_path).resolve().parent] if on_path else []
    candidates += _debian_bindirs(debian_root)
    for bindir in candidates:
        if _complete(bindir):
            return _binaries(bindir)
    raise ProvisioningFailed(
        f"PostgreSQL server programs ({', '.join(NAMES)}) not found on PATH or under "
        f"{debian_root}/*/bin: {_INSTALL_HINT}"
    )
