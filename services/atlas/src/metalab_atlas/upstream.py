"""Reading an experiment directory in upstream metalab's FileStore layout.

Upstream writes, per experiment directory ``{root}/{safe_experiment_id}/``: ``runs/{run_id}.json``
(run records), ``derived/{run_id}.json`` (derived metrics), ``artifacts/{run_id}/`` (files and
``_manifest.json``), ``logs/{run_id}_{name}.log``, ``results/{run_id}/{name}.json`` (step-wise
metrics among them), ``experiments/{id}_{timestamp}.json`` (manifests) and ``_meta.json``.

Records are turned into the shape Atlas shows for every store (`normalize`): ``params`` from
``params_resolved``; ``metrics`` merged with the derived metrics (a derived metric wins over
a recorded one of its name, as in the PostgreSQL index of `metalab.store.PostgresStore`);
``error``/``traceback`` from the error object; ``duration_s`` from ``duration_ms``; ``seed``
the seed bundle's fingerprint; statuses as recorded (``success``, ``failed``, …);
``executor`` (where the run executes, for *lost* runs) from ``provenance.extra.executor``.

Every file served is one of the run's own: a path that resolves (symlinks followed) anywhere
else is treated as absent.
"""

from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path
from typing import Any

from metalab.core.whereabouts import from_record
from metalab_atlas.query import NotFound, QueryError, check_run_id
from metalab_atlas.runfiles import content_type

META = "_meta.json"
MANIFEST = "_manifest.json"
STEPPED = "stepped_metric"
LOG_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
LOG_TAIL = 256 * 1024
MAX_ARTIFACTS = 1000
MAX_STEP_FILES = 200


def safe_experiment_id(experiment_id: str) -> str:
    """The directory name upstream gives an experiment id (``name:version`` → ``name_version``)."""
    return experiment_id.replace(":", "_")


def is_upstream(experiment_dir: str) -> bool:
    """Whether a directory holds an experiment in upstream's layout (its ``_meta.json``, and
    not the project's own ``experiment.json``)."""
    return os.path.isfile(os.path.join(experiment_dir, META)) and not os.path.exists(
        os.path.join(experiment_dir, "experiment.json")
    )


def load_json(path: str) -> Any:
    """The parsed file, or None when it is missing or not JSON."""
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read())
    except (OSError, ValueError):
        return None


def essentials(
    data: dict[str, Any], run_id: str, derived: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The keys of Atlas's record that its runs table uses, from an upstream run record
    (None when it is not one)."""
    params = data.get("params_resolved", {})
    metrics = data.get("metrics", {})
    if type(params) is not dict or type(metrics) is not dict:
        return None
    if derived:
        metrics = {**metrics, **derived}
    error = data.get("error")
    message = None
    if isinstance(error, dict):
        kind, text = error.get("type") or "", error.get("message") or ""
        message = f"{kind}: {text}" if kind and text else str(kind or text) or None
    elif isinstance(error, str):
        message = error
    duration_ms = data.get("duration_ms")
    provenance = data.get("provenance")
    status = str(data.get("status", ""))
    return {
        "experiment_id": data.get("experiment_id"),
        "run_id": run_id,
        "status": status,
        "attempt": None,
        "seed": data.get("seed_fingerprint"),
        "host": provenance.get("host") if type(provenance) is dict else None,
        "created_at": data.get("started_at"),
        "started_at": data.get("started_at"),
        "finished_at": data.get("finished_at") if status != "running" else None,
        "duration_s": duration_ms / 1000 if isinstance(duration_ms, int | float) else None,
        "params": params,
        "metrics": metrics,
        "error": message,
        "executor": from_record(data),
    }


def normalize(
    data: dict[str, Any], run_id: str, derived: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Atlas's full record (run detail) for an upstream run record (None when it is not one)."""
    record = essentials(data, run_id, derived)
    if record is None:
        return None
    error, provenance = data.get("error"), data.get("provenance")
    traceback = error.get("traceback") if isinstance(error, dict) else None
    return {
        **record,
        "traceback": traceback if isinstance(traceback, str) else None,
        "derived": derived or {},
        "fingerprints": {k: data.get(f"{k}_fingerprint") for k in ("context", "params", "seed")},
        "provenance": provenance if isinstance(provenance, dict) else {},
        "tags": data.get("tags", []),
        "notes": data.get("notes"),
        "warnings": data.get("warnings", []),
        "schema_version": data.get("_schema_version"),
    }


def latest_manifest(experiment_dir: str) -> tuple[str, tuple[int, ...]] | None:
    """The newest manifest in ``experiments/`` (by mtime, then name; symlinks left out) with
    its stamp ``(mtime_ns, size, inode)``; None when there is none."""
    best: tuple[tuple[int, str], str, tuple[int, ...]] | None = None
    try:
        entries = list(os.scandir(os.path.join(experiment_dir, "experiments")))
    except OSError:
        return None
    for entry in entries:
        if entry.name[0] == "." or not entry.name.endswith(".json") or entry.is_symlink():
            continue
        try:
            st = entry.stat()
        except OSError:
            continue
        key = (st.st_mtime_ns, entry.name)
        if best is None or key > best[0]:
            best = (key, entry.path, (st.st_mtime_ns, st.st_size, st.st_ino))
    return None if best is None else (best[1], best[2])


def operation_ref(spec: dict[str, Any]) -> str:
    """The operation of a spec: the project's string or upstream's ``{"ref": …}``."""
    operation = spec.get("operation", "")
    if isinstance(operation, dict):
        return str(operation.get("ref") or operation.get("name") or "")
    return str(operation or "")


def _inside(path: str, directory: str) -> bool:
    """Whether ``path`` resolves (symlinks followed) to a file directly in ``directory``
    under its own name."""
    resolved = os.path.realpath(path)
    return resolved == os.path.join(os.path.realpath(directory), os.path.basename(path))


class UpstreamFiles:
    """A run's files in an upstream-layout experiment directory under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def base(self, experiment_id: str) -> str:
        return os.path.join(self.root, safe_experiment_id(experiment_id))

    def _file(self, experiment_id: str, run_id: str, *parts: str) -> str:
        """A path under the experiment directory for a validated run id."""
        check_run_id(run_id)
        return os.path.join(self.base(experiment_id), *parts)

    def derived(self, experiment_id: str, run_id: str) -> dict[str, Any] | None:
        path = self._file(experiment_id, run_id, "derived", f"{run_id}.json")
        if not _inside(path, os.path.dirname(path)):
            return None
        data = load_json(path)
        return data if isinstance(data, dict) else None

    def record(self, experiment_id: str, run_id: str) -> dict[str, Any] | None:
        path = self._file(experiment_id, run_id, "runs", f"{run_id}.json")
        if not _inside(path, os.path.dirname(path)):
            return None
        data = load_json(path)
        if not isinstance(data, dict):
            return None
        return normalize(data, run_id, self.derived(experiment_id, run_id))

    def steps(self, experiment_id: str, run_id: str) -> dict[str, list[list[Any]]]:
        """``{name: [[step, value], …]}`` from the run's stepped-metric results."""
        directory = self._file(experiment_id, run_id, "results", run_id)
        if not _inside(directory, os.path.dirname(directory)):
            return {}
        try:
            names = sorted(n for n in os.listdir(directory) if n.endswith(".json"))
        except OSError:
            return {}
        out: dict[str, list[list[Any]]] = {}
        for name in names[:MAX_STEP_FILES]:
            path = os.path.join(directory, name)
            data = load_json(path) if _inside(path, directory) else None
            if not isinstance(data, dict):
                continue
            meta, points = data.get("metadata"), data.get("data")
            if not isinstance(meta, dict) or meta.get("type") != STEPPED:
                continue
            if isinstance(points, list):
                out[name[: -len(".json")]] = [
                    [p[0], p[1]] for p in points if isinstance(p, list) and len(p) == 2
                ]
        return out

    def step_curve(self, experiment_id: str, run_id: str, name: str) -> list[list[Any]] | None:
        """One stepped metric of a run, reading only its own results file (None when the
        run has no such stepped metric)."""
        if not LOG_NAME.fullmatch(name):  # not a plain file name: look through them all
            return self.steps(experiment_id, run_id).get(name)
        directory = self._file(experiment_id, run_id, "results", run_id)
        path = os.path.join(directory, f"{name}.json")
        if not (_inside(directory, os.path.dirname(directory)) and _inside(path, directory)):
            return None
        data = load_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("data"), list):
            return None
        meta = data.get("metadata")
        if not isinstance(meta, dict) or meta.get("type") != STEPPED:
            return None
        points: list[list[Any]] = data["data"]  # as stored: `curves.clean` checks the pairs
        return points

    def _log_path(self, experiment_id: str, run_id: str, name: str) -> str:
        return self._file(experiment_id, run_id, "logs", f"{run_id}_{name}.log")

    def logs(self, experiment_id: str, run_id: str) -> dict[str, int]:
        """The run's logs, ``{name: size}`` (``logs/{run_id}_{name}.log``)."""
        directory = self._file(experiment_id, run_id, "logs")
        prefix = f"{run_id}_"
        out: dict[str, int] = {}
        try:
            entries = [e for e in os.scandir(directory) if e.name.startswith(prefix)]
        except OSError:
            return out
        for entry in entries:
            name = entry.name[len(prefix) : -len(".log")]
            if not entry.name.endswith(".log") or not LOG_NAME.fullmatch(name):
                continue
            if not _inside(entry.path, directory):
                continue
            try:
                out[name] = entry.stat().st_size
            except OSError:
                continue
        return dict(sorted(out.items()))

    def log(self, experiment_id: str, run_id: str, name: str) -> tuple[str, int]:
        """The last `LOG_TAIL` bytes of a named log and its full size (0 when absent)."""
        if not LOG_NAME.fullmatch(name):
            raise QueryError("unknown log")
        path = self._log_path(experiment_id, run_id, name)
        if not _inside(path, os.path.dirname(path)):
            return "", 0
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                handle.seek(max(0, size - LOG_TAIL))
                return handle.read().decode(errors="replace"), size
        except OSError:
            return "", 0

    def _artifact_dir(self, experiment_id: str, run_id: str) -> str | None:
        directory = self._file(experiment_id, run_id, "artifacts", run_id)
        return directory if _inside(directory, os.path.dirname(directory)) else None

    def artifacts(self, experiment_id: str, run_id: str) -> list[dict[str, Any]]:
        """The regular files of ``artifacts/{run_id}/`` (manifest aside, symlinks left out),
        each with its manifest entry's name, kind and format when it has one."""
        base = self._artifact_dir(experiment_id, run_id)
        if base is None:
            return []
        described: dict[str, dict[str, Any]] = {}
        manifest_path = os.path.join(base, MANIFEST)
        manifest = load_json(manifest_path) if _inside(manifest_path, base) else None
        entries = manifest.get("artifacts") if isinstance(manifest, dict) else None
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and isinstance(entry.get("uri"), str):
                described[os.path.basename(entry["uri"])] = entry
        out: list[dict[str, Any]] = []
        for directory, dirs, files in os.walk(base):
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            for name in sorted(files):
                if name.startswith(".") or (directory == base and name == MANIFEST):
                    continue
                path = os.path.join(directory, name)
                try:
                    st = os.lstat(path)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):  # symlinks are not the run's own files
                    continue
                size = st.st_size
                rel = os.path.relpath(path, base).replace(os.sep, "/")
                item: dict[str, Any] = {"path": rel, "size": size, "type": content_type(rel)}
                entry = described.get(name) if directory == base else None
                if entry is not None:
                    item.update({k: entry.get(k) for k in ("name", "kind", "format")})
                out.append(item)
                if len(out) >= MAX_ARTIFACTS:
                    return out
        return out

    def artifact_path(self, experiment_id: str, run_id: str, relative: str) -> Path:
        """The artifact file for ``relative``; `QueryError` for anything outside the run's
        artifact directory."""
        parts = relative.replace("\\", "/").split("/")
        if not relative or "\x00" in relative or any(p in ("", ".", "..") for p in parts):
            raise QueryError("invalid artifact path")
        base = self._artifact_dir(experiment_id, run_id)
        if base is None:
            raise NotFound("no such artifact")
        base = os.path.realpath(base)
        resolved = os.path.realpath(os.path.join(base, *parts))
        if os.path.commonpath([base, resolved]) != base or not os.path.isfile(resolved):
            raise NotFound("no such artifact")
        return Path(resolved)
