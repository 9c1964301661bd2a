"""A run's files under the store root: run.json, step metrics, logs, artifacts.

Every path is built from a validated experiment id and run id. Containment: a file is served
only when it resolves inside its run directory (itself inside its experiment's directory), and
it is then opened one component at a time from that directory with ``O_NOFOLLOW``, so a symlink
swapped in after the check is not followed either. Symlinks that stay inside the run work; an
``artifacts/`` directory that is itself a symlink is refused, and listings leave out entries
whose target is outside the run.
"""

from __future__ import annotations

import json
import mimetypes
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from metalab.core.fs import read_capped
from metalab_atlas.query import NotFound, QueryError, check_experiment_id, check_run_id

LOG_STREAMS = ("stdout", "stderr")
LOG_TAIL = 256 * 1024
MAX_ARTIFACTS = 1000
MAX_RECORD_BYTES = 64 * 1024 * 1024
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


def _inside(base: str, path: str) -> bool:
    return path != base and os.path.commonpath([base, path]) == base


def open_inside(base: str, relative: str) -> int:
    """A read-only descriptor of the regular file ``relative`` below the (resolved) directory
    ``base``, opened component by component without following any symlink; `NotFound` when
    it is missing, leaves ``base``, or is not a regular file."""
    parts = relative.split("/")
    try:
        fd = os.open(base, _DIR_FLAGS)
    except OSError:
        raise NotFound("no such file") from None
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    except OSError:
        raise NotFound("no such file") from None
    finally:
        os.close(fd)
    if not stat.S_ISREG(os.fstat(file_fd).st_mode):
        os.close(file_fd)
        raise NotFound("no such file")
    return file_fd


class RunFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def run_dir(self, experiment_id: str, run_id: str) -> Path:
        return self.root / check_experiment_id(experiment_id) / "runs" / check_run_id(run_id)

    def _run_base(self, experiment_id: str, run_id: str) -> str:
        """The resolved run directory; `NotFound` when it resolves outside its experiment."""
        run = self.run_dir(experiment_id, run_id)
        experiment = os.path.realpath(self.root / experiment_id)
        base = os.path.realpath(run)
        if not _inside(experiment, base):
            raise NotFound("no such run")
        return base

    def _open(self, experiment_id: str, run_id: str, relative: str) -> int:
        """`open_inside` the run directory, for a path already free of '..' and empties."""
        base = self._run_base(experiment_id, run_id)
        target = os.path.realpath(os.path.join(base, relative))
        if not _inside(base, target):
            raise NotFound("no such file")
        return open_inside(base, os.path.relpath(target, base))

    def _read(self, experiment_id: str, run_id: str, relative: str) -> bytes | None:
        try:
            fd = self._open(experiment_id, run_id, relative)
        except NotFound:
            return None
        try:
            return read_capped(fd, MAX_RECORD_BYTES)
        finally:
            os.close(fd)

    def record(self, experiment_id: str, run_id: str) -> dict[str, Any] | None:
        raw = self._read(experiment_id, run_id, "run.json")
        try:
            data = json.loads(raw) if raw is not None else None
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def steps(self, experiment_id: str, run_id: str) -> dict[str, list[list[Any]]]:
        """``{name: [[step, value], …]}`` from metrics.jsonl; the last line per step wins."""
        raw = self._read(experiment_id, run_id, "metrics.jsonl")
        if raw is None:
            return {}
        lines = raw.splitlines()
        try:  # one parse for the whole file; line by line only when a line is torn or odd
            entries = json.loads(b"[" + b",".join(line for line in lines if line.strip()) + b"]")
        except ValueError:
            entries = None
        found: dict[str, dict[int, Any]] = {}
        items: list[Any] = entries if entries is not None else lines
        for item in items:
            try:
                d: Any = item if entries is not None else json.loads(item)
                found.setdefault(str(d["name"]), {})[int(d["step"])] = d["value"]
            except (ValueError, KeyError, TypeError):
                continue
        return {name: [[s, v] for s, v in sorted(vals.items())] for name, vals in found.items()}

    def log(self, experiment_id: str, run_id: str, stream: str) -> tuple[str, int]:
        """The last `LOG_TAIL` bytes of a log and its full size (0 when absent)."""
        if stream not in LOG_STREAMS:
            raise QueryError("unknown log stream")
        try:
            fd = self._open(experiment_id, run_id, f"logs/{stream}.txt")
        except NotFound:
            return "", 0
        with os.fdopen(fd, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.seek(max(0, size - LOG_TAIL))
            return handle.read().decode(errors="replace"), size

    def _artifacts_base(self, experiment_id: str, run_id: str) -> str | None:
        """The run's real ``artifacts/`` directory; None when absent or a symlink."""
        try:
            base = self._run_base(experiment_id, run_id)
        except NotFound:
            return None
        path = os.path.join(base, "artifacts")
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):  # a symlink is refused outright
                return None
        except OSError:
            return None
        return path

    def artifacts(self, experiment_id: str, run_id: str) -> list[dict[str, Any]]:
        """Regular files below artifacts/ (symlinks only when they stay inside the run)."""
        base = self._artifacts_base(experiment_id, run_id)
        out: list[dict[str, Any]] = []
        if base is None:
            return out
        run = os.path.dirname(base)
        for directory, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = os.path.join(directory, name)
                size = _contained_size(run, path)
                if size is None:
                    continue
                rel = Path(path).relative_to(base).as_posix()
                out.append({"path": rel, "size": size, "type": content_type(rel)})
                if len(out) >= MAX_ARTIFACTS:
                    return out
        return out

    def open_artifact(self, experiment_id: str, run_id: str, relative: str) -> int:
        """A descriptor of the artifact ``relative`` (see the module docstring); `QueryError`
        for a malformed path, `NotFound` for anything missing or outside the run."""
        parts = _artifact_parts(relative)
        if self._artifacts_base(experiment_id, run_id) is None:
            raise NotFound("no such artifact")
        try:
            return self._open(experiment_id, run_id, "/".join(("artifacts", *parts)))
        except NotFound:
            raise NotFound("no such artifact") from None

    def artifact_path(self, experiment_id: str, run_id: str, relative: str) -> Path:
        """The resolved path of the artifact ``relative`` (checked as `open_artifact`)."""
        os.close(self.open_artifact(experiment_id, run_id, relative))
        base = self._run_base(experiment_id, run_id)
        return Path(os.path.realpath(os.path.join(base, "artifacts", *_artifact_parts(relative))))


def _artifact_parts(relative: str) -> Sequence[str]:
    parts = relative.replace("\\", "/").split("/")
    if not relative or "\x00" in relative or any(p in ("", ".", "..") for p in parts):
        raise QueryError("invalid artifact path")
    return parts


def _contained_size(run: str, path: str) -> int | None:
    """The size of the regular file ``path`` when it (or its symlink's target) is inside
    ``run``; None otherwise, so a listing never describes anything outside the run."""
    try:
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            if not _inside(run, os.path.realpath(path)):
                return None
            st = os.stat(path)
    except OSError:
        return None
    return st.st_size if stat.S_ISREG(st.st_mode) else None


def content_type(name: str) -> str:
    if name.endswith((".jsonl", ".log", ".csv", ".txt", ".md", ".yaml", ".yml")):
        return "text/plain"
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"
