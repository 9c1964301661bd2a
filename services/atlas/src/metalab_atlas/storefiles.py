"""A run's files in whichever layout its experiment directory has: the project's own
(`RunFiles`, docs/store-format.md) or upstream metalab's (`UpstreamFiles`)."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from metalab_atlas.query import NotFound, check_experiment_id
from metalab_atlas.runfiles import LOG_STREAMS, RunFiles
from metalab_atlas.upstream import UpstreamFiles, is_upstream


class StoreFiles:
    """The same questions as `RunFiles`, answered per experiment directory's layout."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.own = RunFiles(root)
        self.upstream = UpstreamFiles(root)

    def is_upstream(self, experiment_id: str) -> bool:
        return is_upstream(self.upstream.base(check_experiment_id(experiment_id)))

    def upstream_base(self, experiment_id: str) -> str:
        """The experiment's directory in upstream's layout."""
        return self.upstream.base(check_experiment_id(experiment_id))

    def record(self, experiment_id: str, run_id: str) -> dict[str, Any] | None:
        if self.is_upstream(experiment_id):
            return self.upstream.record(experiment_id, run_id)
        return self.own.record(experiment_id, run_id)

    def steps(self, experiment_id: str, run_id: str) -> dict[str, list[list[Any]]]:
        if self.is_upstream(experiment_id):
            return self.upstream.steps(experiment_id, run_id)
        return self.own.steps(experiment_id, run_id)

    def step_curves(
        self, experiment_id: str, run_ids: list[str], name: str
    ) -> dict[str, list[list[Any]]]:
        """``{run_id: [[step, value], …]}`` of one stepped metric (runs without it left out)."""
        out: dict[str, list[list[Any]]] = {}
        upstream = self.is_upstream(experiment_id)
        for run_id in run_ids:
            if upstream:
                found = self.upstream.step_curve(experiment_id, run_id, name)
            else:
                found = self.own.steps(experiment_id, run_id).get(name)
            if found:
                out[run_id] = found
        return out

    def step_names(self, experiment_id: str, run_ids: list[str]) -> list[str]:
        """The stepped metrics the runs have, sorted."""
        names: set[str] = set()
        for run_id in run_ids:
            names.update(self.steps(experiment_id, run_id))
        return sorted(names)

    def logs(self, experiment_id: str, run_id: str) -> dict[str, int]:
        """``{log name: size}``: stdout and stderr, or upstream's named logs."""
        if self.is_upstream(experiment_id):
            return self.upstream.logs(experiment_id, run_id)
        return {s: self.own.log(experiment_id, run_id, s)[1] for s in LOG_STREAMS}

    def log(self, experiment_id: str, run_id: str, stream: str) -> tuple[str, int]:
        if self.is_upstream(experiment_id):
            return self.upstream.log(experiment_id, run_id, stream)
        return self.own.log(experiment_id, run_id, stream)

    def artifacts(self, experiment_id: str, run_id: str) -> list[dict[str, Any]]:
        if self.is_upstream(experiment_id):
            return self.upstream.artifacts(experiment_id, run_id)
        return self.own.artifacts(experiment_id, run_id)

    def artifact_path(self, experiment_id: str, run_id: str, relative: str) -> Path:
        if self.is_upstream(experiment_id):
            return self.upstream.artifact_path(experiment_id, run_id, relative)
        return self.own.artifact_path(experiment_id, run_id, relative)

    def open_artifact(self, experiment_id: str, run_id: str, relative: str) -> int:
        """A descriptor of the artifact file, opened without following a final symlink;
        `NotFound` for anything missing, not a regular file, or outside the run."""
        if not self.is_upstream(experiment_id):
            return self.own.open_artifact(experiment_id, run_id, relative)
        path = self.upstream.artifact_path(experiment_id, run_id, relative)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError:
            raise NotFound("no such artifact") from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise NotFound("no such artifact")
        return fd
