"""A run's files under the store root: run.json, step metrics, logs, artifacts.

Every path is built from a validated experiment id and run id; artifact paths from the client
are resolved (symlinks included) and must stay inside the run's ``artifacts/`` directory.
"""

from __future__ import annotations

import json
import mimetypes
import os
from pathlib import Path
from typing import Any

from metalab.atlas.query import NotFound, QueryError, check_experiment_id, check_run_id

LOG_STREAMS = ("stdout", "stderr")
LOG_TAIL = 256 * 1024
MAX_ARTIFACTS = 1000


class RunFiles:
    def __init__(self, root: Path) -> None:
        self.root = root

    def run_dir(self, experiment_id: str, run_id: str) -> Path:
        return self.root / check_experiment_id(experiment_id) / "runs" / check_run_id(run_id)

    def record(self, experiment_id: str, run_id: str) -> dict[str, Any] | None:
        try:
            data = json.loads((self.run_dir(experiment_id, run_id) / "run.json").read_bytes())
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def steps(self, experiment_id: str, run_id: str) -> dict[str, list[list[Any]]]:
        """``{name: [[step, value], …]}`` from metrics.jsonl; the last line per step wins."""
        path = self.run_dir(experiment_id, run_id) / "metrics.jsonl"
        try:
            lines = path.read_bytes().splitlines()
        except OSError:
            return {}
        found: dict[str, dict[int, Any]] = {}
        for line in lines:
            try:
                d = json.loads(line)
                found.setdefault(str(d["name"]), {})[int(d["step"])] = d["value"]
            except (ValueError, KeyError, TypeError):
                continue
        return {name: [[s, v] for s, v in sorted(vals.items())] for name, vals in found.items()}

    def log(self, experiment_id: str, run_id: str, stream: str) -> tuple[str, int]:
        """The last `LOG_TAIL` bytes of a log and its full size (0 when absent)."""
        if stream not in LOG_STREAMS:
            raise QueryError("unknown log stream")
        path = self.run_dir(experiment_id, run_id) / "logs" / f"{stream}.txt"
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(max(0, size - LOG_TAIL))
                return handle.read().decode(errors="replace"), size
        except OSError:
            return "", 0

    def artifacts(self, experiment_id: str, run_id: str) -> list[dict[str, Any]]:
        base = self.run_dir(experiment_id, run_id) / "artifacts"
        out: list[dict[str, Any]] = []
        for directory, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith("."):
                    continue
                path = Path(directory) / name
                try:
                    size = path.stat().st_size
                except OSError:
                    continue
                rel = path.relative_to(base).as_posix()
                out.append({"path": rel, "size": size, "type": content_type(rel)})
                if len(out) >= MAX_ARTIFACTS:
                    return out
        return out

    def artifact_path(self, experiment_id: str, run_id: str, relative: str) -> Path:
        """The artifact file for ``relative``; `QueryError` for anything outside artifacts/."""
        base = os.path.realpath(self.run_dir(experiment_id, run_id) / "artifacts")
        parts = relative.replace("\\", "/").split("/")
        if not relative or "\x00" in relative or any(p in ("", ".", "..") for p in parts):
            raise QueryError("invalid artifact path")
        resolved = os.path.realpath(os.path.join(base, *parts))
        if os.path.commonpath([base, resolved]) != base or not os.path.isfile(resolved):
            raise NotFound("no such artifact")
        return Path(resolved)


def content_type(name: str) -> str:
    if name.endswith((".jsonl", ".log", ".csv", ".txt", ".md", ".yaml", ".yml")):
        return "text/plain"
    guessed, _ = mimetypes.guess_type(name)
    return guessed or "application/octet-stream"
