"""A FileStore on another host, over SSH/SFTP, read through a local cache.

``ssh://[user@]host[:port]/path`` (or scp's ``[user@]host:/path``) is mirrored into a cache
directory (0700) by a background thread: every `SyncLoop.interval` seconds (at least 5x the
last pass) it lists the remote tree over SFTP and copies new or changed files (by size and
mtime), removing what is gone; Atlas serves the cache as a local store (a directory of stores
too). The connection is the tunnel's (`metalab.core.ssh_options`, asyncssh): ``~/.ssh/config``,
the agent and default keys (or ``--ssh-key``), public keys only, and strict host key checking
against ``~/.ssh/known_hosts`` — an unknown or changed host key is refused, never added.

Bounded and contained: symbolic links on the remote are neither copied nor followed, names are
single path components, dot-files and ``services/`` directories (bundles, tokens, database
files) are skipped, at most `MAX_DEPTH` levels, `MAX_FILES` files, `MAX_FILE_BYTES` per file
and `MAX_TOTAL_BYTES` in all are cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from metalab.core import asyncssh_warnings
from metalab.core.errors import ConfigError, StoreError
from metalab.core.ssh_options import SshTarget, gateway_connect_kwargs, parse_destination
from metalab_atlas.query import Field, KnownFields, RunQuery
from metalab_atlas.source import RunSource

MAX_DEPTH = 12
MAX_FILES = 500_000
MAX_FILE_BYTES = 256 * 2**20
MAX_TOTAL_BYTES = 16 * 2**30
SKIPPED_DIRS = ("services",)  # at the top three levels: a store's, or a nested store's
PARALLEL = 16  # SFTP requests in flight
SYNC_INTERVAL = 10.0
CONNECT_TIMEOUT = 20.0
asyncssh_warnings.quiet()  # before this module's lazy asyncssh imports
SETTLE_SECONDS = 2.0
Stamp = tuple[int, int]  # (size, mtime)


@dataclass(frozen=True)
class Remote:
    """Where a remote store is: ``destination`` (``[user@]host[:port]``) and its ``path``."""

    destination: str
    path: str

    def label(self) -> str:
        return f"ssh://{self.destination}/{self.path.lstrip('/')}"


def parse_remote(locator: str) -> Remote | None:
    """The remote store ``locator`` names, or None when it is not one."""
    if locator.startswith("ssh://"):
        parts = urlsplit(locator)
        if not parts.hostname or not parts.path or parts.path == "/":
            raise ConfigError(f"{locator!r}: expected ssh://[user@]host[:port]/path", key="store")
        path = parts.path[1:] if parts.path.startswith("/~/") else parts.path
        remote = Remote(parts.netloc, path.removeprefix("~/"))
    else:
        head, sep, path = locator.partition(":")
        if not sep or "/" in head or "://" in locator or not path.startswith(("/", "~/")):
            return None
        remote = Remote(head, path.removeprefix("~/"))
    parse_destination(remote.destination)  # one clear line for a malformed host
    return remote


def default_cache(remote: Remote) -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    digest = hashlib.sha256(remote.label().encode()).hexdigest()[:16]
    return Path(base) / "metalab" / "atlas-ssh" / digest


def _safe_name(name: str) -> bool:
    return bool(name) and name not in (".", "..") and "/" not in name and "\0" not in name


class Mirror:
    """One pass copies what changed on the remote into ``cache``; state kept between passes."""

    def __init__(self, remote: Remote, cache: Path, ssh_key: str | None = None) -> None:
        self.remote = remote
        self.cache = cache
        self.ssh_key = ssh_key
        self.stamps: dict[str, Stamp] = {}
        self.unsettled: dict[str, float] = {}  # copied while recent: copy once more
        self.truncated = False
        self._conn: Any = None
        self._sftp: Any = None
        self._root = ""

    def connect_kwargs(self) -> dict[str, object]:
        target = SshTarget(
            gateway=self.remote.destination,
            ssh_key=self.ssh_key,
            connect_timeout=CONNECT_TIMEOUT,
        )
        return gateway_connect_kwargs(target)

    async def connect(self) -> None:
        import asyncssh

        self.close()
        try:
            self._conn = await asyncssh.connect(**self.connect_kwargs())
            self._sftp = await self._conn.start_sftp_client()
            self._root = await self._sftp.realpath(self.remote.path or ".")
            attrs = await self._sftp.stat(self._root)
        except asyncssh.HostKeyNotVerifiable as exc:
            self.close()
            raise StoreError(
                f"{self.remote.destination}: host key not verifiable ({exc.reason}); add it to "
                "~/.ssh/known_hosts (ssh-keyscan, checked) — Atlas never accepts one itself"
            ) from None
        except asyncssh.PermissionDenied:
            self.close()
            raise StoreError(
                f"{self.remote.destination}: permission denied (public key: the agent, "
                "~/.ssh/config's IdentityFile, the default keys or --ssh-key)"
            ) from None
        except asyncssh.SFTPError as exc:
            self.close()
            raise StoreError(f"{self.remote.label()}: {exc.reason}") from None
        except (OSError, asyncssh.Error) as exc:
            self.close()
            reason = getattr(exc, "reason", None) or getattr(exc, "strerror", None) or str(exc)
            raise StoreError(f"{self.remote.destination}: cannot connect: {reason}") from None
        if not stat.S_ISDIR(attrs.permissions or 0):
            self.close()
            raise StoreError(f"{self.remote.label()}: not a directory")

    def close(self) -> None:
        if self._sftp is not None:
            self._sftp.exit()
        if self._conn is not None:
            self._conn.close()
        self._sftp = self._conn = None

    async def sync(self) -> int:
        """One pass; returns how many files were copied or removed."""
        if self._sftp is None:
            await self.connect()
        self.cache.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.cache, 0o700)
        seen: dict[str, Stamp] = {}
        wanted: list[tuple[str, Stamp]] = []
        limit = asyncio.Semaphore(PARALLEL)
        self.truncated = False
        await self._walk("", 0, seen, wanted, limit)
        total = 0
        for rel, stamp in sorted(wanted):
            total += stamp[0]
            if total > MAX_TOTAL_BYTES:
                self.truncated = True
                seen.pop(rel, None)
        now = time.monotonic()
        newest = max((s[1] for s in seen.values()), default=0)
        changed = {r for r, s in wanted if r in seen and self.stamps.get(r) != s}
        fetch = [(r, s) for r, s in wanted if r in changed or (r in seen and self._due(r, now))]

        async def one(rel: str, stamp: Stamp) -> None:
            async with limit:
                await self._fetch(rel, stamp)

        await asyncio.gather(*(one(r, s) for r, s in fetch))
        for rel, stamp in fetch:
            # SFTP mtimes are whole seconds: a file of the last seconds may change again
            # with the same size and mtime, so it is copied once more a little later
            if rel in changed and stamp[1] >= newest - SETTLE_SECONDS:
                self.unsettled[rel] = now
            else:
                self.unsettled.pop(rel, None)
        gone = set(self.stamps) - set(seen)
        for rel in gone:
            with contextlib.suppress(OSError):
                os.unlink(self.cache / rel)
            self.stamps.pop(rel, None)
            self.unsettled.pop(rel, None)
            self._prune(Path(rel).parent)
        return len(fetch) + len(gone)

    def _due(self, rel: str, now: float) -> bool:
        """Whether an unsettled file is to be copied once more now."""
        first = self.unsettled.get(rel)
        return first is not None and now - first >= SETTLE_SECONDS

    def _prune(self, directory: Path) -> None:
        """Remove ``directory`` of the cache and its parents while they are empty."""
        while directory.parts:
            try:
                os.rmdir(self.cache / directory)
            except OSError:
                return
            directory = directory.parent

    async def _walk(
        self,
        rel: str,
        depth: int,
        seen: dict[str, Stamp],
        wanted: list[tuple[str, Stamp]],
        limit: asyncio.Semaphore,
    ) -> None:
        import asyncssh

        try:
            async with limit:
                entries = await self._sftp.readdir(f"{self._root}/{rel}" if rel else self._root)
        except (asyncssh.SFTPNoSuchFile, asyncssh.SFTPPermissionDenied):
            if not rel:
                raise
            return  # gone since its parent was listed, or not ours to read
        subdirs = []
        for entry in entries:
            name = entry.filename if isinstance(entry.filename, str) else ""
            mode = entry.attrs.permissions or 0
            if not _safe_name(name) or name.startswith("."):
                continue
            if stat.S_ISLNK(mode):
                continue  # never followed, never copied
            path = f"{rel}/{name}" if rel else name
            if stat.S_ISDIR(mode):
                if depth < 3 and name in SKIPPED_DIRS:
                    continue
                if depth + 1 < MAX_DEPTH:
                    subdirs.append(path)
            elif stat.S_ISREG(mode):
                size = int(entry.attrs.size or 0)
                if size > MAX_FILE_BYTES or len(seen) >= MAX_FILES:
                    self.truncated = True
                    continue
                stamp = (size, int(entry.attrs.mtime or 0))
                seen[path] = stamp
                wanted.append((path, stamp))
        await asyncio.gather(*(self._walk(d, depth + 1, seen, wanted, limit) for d in subdirs))

    async def _fetch(self, rel: str, stamp: Stamp) -> None:
        """Copy one file: written beside its place as a dot-file (which the index skips),
        then renamed over it, with the remote's mtime."""
        target = self.cache / rel
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        part = target.with_name(f".{target.name}.part")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(part)
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            async with self._sftp.open(f"{self._root}/{rel}", "rb") as remote:
                while True:
                    chunk = await remote.read(1 << 20)
                    if not chunk:
                        break
                    os.write(fd, chunk)
        except Exception as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(part)
            import asyncssh

            if isinstance(exc, asyncssh.SFTPNoSuchFile | asyncssh.SFTPPermissionDenied):
                return  # gone since the listing, or not ours to read: left out
            raise
        os.close(fd)
        os.utime(part, (stamp[1], stamp[1]))
        os.replace(part, target)
        self.stamps[rel] = stamp


class SyncLoop:
    """`Mirror` passes in a daemon thread of its own (an asyncio loop there)."""

    def __init__(self, mirror: Mirror, interval: float = SYNC_INTERVAL) -> None:
        self.mirror = mirror
        self.interval = interval
        self.error: str | None = None
        self.passes = 0
        self._first = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="atlas-ssh-mirror", daemon=True)

    def start(self, timeout: float = 600.0) -> None:
        """Start, and return once the first pass is done; StoreError if it failed."""
        self._thread.start()
        self._first.wait(timeout)
        if self.error is not None and self.passes == 0:
            self.stop()
            raise StoreError(self.error)

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._loop())
        except Exception as exc:  # noqa: BLE001 - said once, instead of a silent thread death
            self.error = f"{self.mirror.remote.label()}: {type(exc).__name__}: {exc}"
            print(f"atlas: ssh store: sync stopped: {self.error}", file=sys.stderr, flush=True)
        finally:
            self._first.set()

    async def _loop(self) -> None:
        import asyncssh

        while not self._stop.is_set():
            started = time.monotonic()
            try:
                await self.mirror.sync()
                self.passes += 1
                self.error = None
            except StoreError as exc:
                self.error = str(exc)
            except (OSError, asyncssh.Error) as exc:  # the connection dropped: reconnect next
                self.error = f"{self.mirror.remote.destination}: {type(exc).__name__}: {exc}"
                self.mirror.close()
            if self.error is not None:
                print(f"atlas: ssh store: {self.error}", file=sys.stderr, flush=True)
            self._first.set()
            if self.passes == 0 and self.error is not None:
                break
            wait = max(self.interval, 5 * (time.monotonic() - started))
            while not self._stop.is_set() and time.monotonic() - started < wait:
                await asyncio.sleep(min(0.2, wait))
        self.mirror.close()


@dataclass(frozen=True)
class SshSettings:
    """``--ssh-key``, ``--cache-dir`` and ``--sync-interval``."""

    ssh_key: str | None = None
    cache_dir: Path | None = None
    interval: float = SYNC_INTERVAL


class RemoteSource:
    """A `RunSource` over the local cache of a remote store, kept in sync by a `SyncLoop`."""

    kind = "ssh"

    def __init__(self, loop: SyncLoop, inner: RunSource) -> None:
        self.loop = loop
        self.inner = inner
        self.files = inner.files

    def start(self) -> None:
        self.inner.start()

    def close(self) -> None:
        self.loop.stop()
        self.inner.close()

    def check(self) -> tuple[bool, str]:
        if self.loop.error is not None:
            return False, f"last sync failed: {self.loop.error}"
        return self.inner.check()

    def resolve(self, experiment_id: str) -> str:
        return self.inner.resolve(experiment_id)

    def experiments(self) -> list[dict[str, Any]]:
        return self.inner.experiments()

    def experiment(self, experiment_id: str) -> dict[str, Any]:
        return self.inner.experiment(experiment_id)

    def fields(self, experiment_id: str, wanted: Sequence[str] = ()) -> KnownFields:
        return self.inner.fields(experiment_id, wanted)

    def runs(self, experiment_id: str, query: RunQuery) -> tuple[int, list[dict[str, Any]]]:
        return self.inner.runs(experiment_id, query)

    def run(self, experiment_id: str, run_id: str) -> dict[str, Any]:
        return self.inner.run(experiment_id, run_id)

    def steps(self, experiment_id: str, run_id: str) -> dict[str, list[list[Any]]]:
        return self.inner.steps(experiment_id, run_id)

    def step_curves(
        self, experiment_id: str, run_ids: list[str], name: str
    ) -> dict[str, list[list[Any]]]:
        return self.inner.step_curves(experiment_id, run_ids, name)

    def step_names(self, experiment_id: str, run_ids: list[str]) -> list[str]:
        return self.inner.step_names(experiment_id, run_ids)

    def plot(
        self, experiment_id: str, query: RunQuery, x: Field, y: Field, group: Field | None
    ) -> list[dict[str, Any]]:
        return self.inner.plot(experiment_id, query, x, y, group)

    def values(
        self, experiment_id: str, query: RunQuery, f: Field, group: Field | None
    ) -> tuple[int, list[tuple[str | None, float]]]:
        return self.inner.values(experiment_id, query, f, group)

    def slurm_jobs(self, experiment_id: str) -> list[str]:
        return self.inner.slurm_jobs(experiment_id)

    def listing(self) -> dict[str, Any] | None:
        """The stores in the cache, as `MultiSource.listing` (None: one store)."""
        from metalab_atlas.multistore import MultiSource

        return self.inner.listing() if isinstance(self.inner, MultiSource) else None


def open_remote(
    remote: Remote, settings: SshSettings, refresh_interval: float, freeze_gc: bool
) -> RemoteSource:
    """Mirror ``remote`` once (StoreError: one line saying why not), then serve the cache."""
    from metalab_atlas.multistore import open_directory

    try:
        import asyncssh  # noqa: F401 - the SSH client, an optional dependency
    except ImportError:
        raise StoreError(
            f"{remote.label()}: SSH stores need asyncssh (pip install asyncssh)"
        ) from None
    cache = settings.cache_dir or default_cache(remote)
    loop = SyncLoop(Mirror(remote, cache, settings.ssh_key), settings.interval)
    loop.start()
    return RemoteSource(loop, open_directory(cache, refresh_interval, freeze_gc))
