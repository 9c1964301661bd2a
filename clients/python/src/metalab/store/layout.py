"""Where each kind of file lives inside a FileStore directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


def safe_experiment_id(experiment_id: str) -> str:
    """``experiment_id`` usable as a file or directory name (``"exp:1.0"`` -> ``"exp_1.0"``)."""
    return experiment_id.replace(":", "_")


@dataclass(frozen=True)
class FileStoreLayout:
    """Paths of a FileStore rooted at ``root``::

    runs/{run_id}.json            derived/{run_id}.json
    artifacts/{run_id}/_manifest.json, {name}.{ext}
    logs/{run_id}_{name}.log      results/{run_id}/{name}.json
    experiments/{exp_id}_{ts}.json
    .locks/{run_id}.lock          _meta.json
    """

    root: Path
    runs_dir: str = "runs"
    derived_dir: str = "derived"
    artifacts_dir: str = "artifacts"
    logs_dir: str = "logs"
    results_dir: str = "results"
    experiments_dir: str = "experiments"
    locks_dir: str = ".locks"
    meta_file: str = "_meta.json"
    manifest_file: str = "_manifest.json"

    def __post_init__(self) -> None:
        if not isinstance(self.root, Path):
            object.__setattr__(self, "root", Path(self.root))

    def __repr__(self) -> str:
        return f"FileStoreLayout(root={self.root!r})"

    def run_path(self, run_id: str) -> Path:
        return self.runs_dir_path() / f"{run_id}.json"

    def runs_dir_path(self) -> Path:
        return self.root / self.runs_dir

    def derived_path(self, run_id: str) -> Path:
        return self.derived_dir_path() / f"{run_id}.json"

    def derived_dir_path(self) -> Path:
        return self.root / self.derived_dir

    def artifact_dir(self, run_id: str) -> Path:
        return self.artifacts_dir_path() / run_id

    def artifact_manifest_path(self, run_id: str) -> Path:
        return self.artifact_dir(run_id) / self.manifest_file

    def artifacts_dir_path(self) -> Path:
        return self.root / self.artifacts_dir

    def log_path(self, run_id: str, name: str) -> Path:
        return self.logs_dir_path() / f"{run_id}_{name}.log"

    def logs_dir_path(self) -> Path:
        return self.root / self.logs_dir

    def result_path(self, run_id: str, name: str) -> Path:
        return self.result_dir(run_id) / f"{name}.json"

    def result_dir(self, run_id: str) -> Path:
        return self.results_dir_path() / run_id

    def results_dir_path(self) -> Path:
        return self.root / self.results_dir

    def experiment_manifest_path(self, experiment_id: str, timestamp: str) -> Path:
        name = f"{safe_experiment_id(experiment_id)}_{timestamp}.json"
        return self.experiments_dir_path() / name

    def experiments_dir_path(self) -> Path:
        return self.root / self.experiments_dir

    def lock_path(self, run_id: str) -> Path:
        return self.locks_dir_path() / f"{run_id}.lock"

    def locks_dir_path(self) -> Path:
        return self.root / self.locks_dir

    def meta_path(self) -> Path:
        return self.root / self.meta_file

    def all_directories(self) -> list[Path]:
        """Every directory of the layout, in a fixed order."""
        return [
            self.runs_dir_path(),
            self.derived_dir_path(),
            self.artifacts_dir_path(),
            self.logs_dir_path(),
            self.results_dir_path(),
            self.experiments_dir_path(),
            self.locks_dir_path(),
        ]

    def ensure_directories(self) -> None:
        """Create every directory of the layout that is missing."""
        for directory in self.all_directories():
            directory.mkdir(parents=True, exist_ok=True)
