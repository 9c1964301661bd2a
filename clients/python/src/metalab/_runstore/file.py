"""FileStore: the on-disk layout documented in docs/store-format.md.

::

    {root}/{experiment_id}/experiment.json
    {root}/{experiment_id}/runs/{run_id}/run.json        replaced atomically on every change
    {root}/{experiment_id}/runs/{run_id}/metrics.jsonl   step-wise metrics, appended
    {root}/{experiment_id}/runs/{run_id}/logs/{stdout,stderr}.txt
    {root}/{experiment_id}/runs/{run_id}/artifacts/...
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metalab._runstore.base import EXPERIMENT_SCHEMA, MetricStep, RunRecord, RunState, now_iso
from metalab.core.fs import write_atomic
from metalab.errors import StoreError

FILE_MODE = 0o644
DIR_MODE = 0o755


def _dumps(value: Any) -> bytes:
    return (json.dumps(value, indent=1, sort_keys=True, default=str) + "\n").encode()


@dataclass(frozen=True)
class FileStoreConfig:
    """A FileStore rooted at ``root`` (experiments live in ``{root}/{experiment_id}/``)."""

    root: str
    kind: str = "file"

    def open(self) -> FileStore:
        return FileStore(Path(self.root))

    def describe(self) -> str:
        return f"FileStore {self.root}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": "file", "root": self.root}


class FileStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        try:
            root.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        except OSError as exc:
            raise StoreError(f"cannot create store directory {root}: {exc.strerror}") from exc
        if not os.access(root, os.W_OK | os.X_OK):
            raise StoreError(f"store directory {root} is not writable")

    def describe(self) -> str:
        return f"FileStore {self.root}"

    def experiment_dir(self, experiment_id: str) -> Path:
        return self.root / experiment_id

    def run_dir(self, experiment_id: str, run_id: str) -> Path:
        return self.root / experiment_id / "runs" / run_id

    def put_experiment(
        self, spec: Mapping[str, Any], total_runs: int, run_ids: Sequence[str] = ()
    ) -> None:
        path = self.experiment_dir(str(spec["experiment_id"])) / "experiment.json"
        created = now_iso()
        old = _read_json(path)
        if old is not None and isinstance(old.get("created_at"), str):
            created = old["created_at"]
        doc = {
            "schema": EXPERIMENT_SCHEMA,
            **spec,
            "total_runs": total_runs,
            **({"run_ids": list(run_ids)} if run_ids else {}),
            "created_at": created,
            "updated_at": now_iso(),
        }
        path.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        write_atomic(path, _dumps(doc), FILE_MODE)

    def write_run(self, record: RunRecord) -> None:
        directory = self.run_dir(record.experiment_id, record.run_id)
        directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        write_atomic(directory / "run.json", _dumps(record.to_json()), FILE_MODE)

    def begin_run(self, record: RunRecord) -> None:
        """Record a (re)started run: drop the previous attempt's step metrics, write run.json."""
        (self.run_dir(record.experiment_id, record.run_id) / "metrics.jsonl").unlink(
            missing_ok=True
        )
        self.write_run(record)

    def write_runs(self, records: Sequence[RunRecord]) -> None:
        for record in records:
            self.write_run(record)

    def write_steps(self, experiment_id: str, run_id: str, steps: Iterable[MetricStep]) -> None:
        lines = "".join(json.dumps(s.to_json()) + "\n" for s in steps)
        if not lines:
            return
        directory = self.run_dir(experiment_id, run_id)
        directory.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        fd = os.open(directory / "metrics.jsonl", os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        try:
            os.write(fd, lines.encode())
        finally:
            os.close(fd)

    def iter_run_files(self, experiment_id: str) -> Iterator[Path]:
        runs = self.experiment_dir(experiment_id) / "runs"
        try:
            entries = list(os.scandir(runs))
        except FileNotFoundError:
            return
        for entry in entries:
            if entry.is_dir():
                yield Path(entry.path) / "run.json"

    def read_runs(self, experiment_id: str) -> list[RunRecord]:
        out = []
        for path in self.iter_run_files(experiment_id):
            data = _read_json(path)
            if data is not None:
                out.append(RunRecord.from_json(data))
        return out

    def run_states(self, experiment_id: str) -> dict[str, RunState]:
        return {r.run_id: RunState(r.status, r.attempt) for r in self.read_runs(experiment_id)}

    def experiments(self) -> list[str]:
        try:
            return sorted(p.parent.name for p in self.root.glob("*/experiment.json"))
        except OSError as exc:
            raise StoreError(f"cannot list {self.root}: {exc.strerror}") from exc

    def read_experiment(self, experiment_id: str) -> dict[str, Any] | None:
        return _read_json(self.experiment_dir(experiment_id) / "experiment.json")

    def read_steps(self, experiment_id: str, run_id: str) -> list[MetricStep]:
        path = self.run_dir(experiment_id, run_id) / "metrics.jsonl"
        try:
            text = path.read_text()
        except FileNotFoundError:
            return []
        steps = []
        for line in text.splitlines():
            try:
                d = json.loads(line)
                steps.append(
                    MetricStep(
                        str(d["name"]), int(d["step"]), float(d["value"]), str(d.get("t", ""))
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError, ValueError):
                continue  # a torn last line from a killed run: skip it, keep the rest
        return steps

    def close(self) -> None:
        return None


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object at ``path``; None when absent; `StoreError` when unreadable/corrupt."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    try:
        data = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StoreError(f"{path} is corrupt: {exc}") from exc
    if not isinstance(data, dict):
        raise StoreError(f"{path} is corrupt: not a JSON object")
    return data
