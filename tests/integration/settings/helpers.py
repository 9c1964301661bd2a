"""Shared pieces of the settings tests: settings files, experiments, run files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import metalab
from metalab._archive import run_entries
from metalab.workspace.folders import tree_digest
from tests.integration.settings import ops


def write_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> Path:
    path = tmp_path / "conf" / "settings.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    monkeypatch.setenv("METALAB_SETTINGS", str(path))
    return path


def experiment(name: str, n: int = 2, **params: Any) -> metalab.Experiment:
    return rows_experiment(name, [{"i": i, **params} for i in range(n)])


def rows_experiment(name: str, rows: list[dict[str, Any]]) -> metalab.Experiment:
    return metalab.Experiment(
        name=name,
        version="1",
        context={},
        operation=ops.probe,
        params=metalab.manual(rows),
        seeds=metalab.seeds(base=0, replicates=1),
    )


def records(experiment_dir: Path) -> dict[str, Path]:
    """Run id → record path (symlinks included) of an upstream-layout experiment directory."""
    runs = experiment_dir / "runs"
    return {p.stem: p for p in sorted(runs.glob("*.json"))} if runs.is_dir() else {}


def status_of(record: Path) -> str:
    status: str = json.loads(record.read_text())["status"]
    return status


def run_digest(experiment_dir: Path, run_id: str) -> dict[str, Any]:
    """Every entry of a run, digested through symlinks (what a reader sees)."""
    out: dict[str, Any] = {}
    for rel in run_entries(experiment_dir, run_id):
        path = experiment_dir / rel
        out[rel] = tree_digest(path.resolve() if path.is_symlink() else path)
    return out


def seen_env(experiment_dir: Path) -> list[dict[str, str | None]]:
    return [
        json.loads(p.read_text()) for p in sorted((experiment_dir / "artifacts").glob("*/env.json"))
    ]
