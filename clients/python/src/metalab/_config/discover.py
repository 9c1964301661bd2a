"""Bundle discovery driven by the project's `.metalab.toml` (environment, file root)."""

from __future__ import annotations

from pathlib import Path

from metalab._config.resolve import load_project, resolve_environment
from metalab.core.bundle.discover import Discovered, discover
from metalab.core.bundle.files import bundle_path


def discover_for_project(start_dir: Path | None = None, env_flag: str | None = None) -> Discovered:
    """Discover using the project config found from ``start_dir`` to filter and to locate."""
    project = load_project(start_dir)
    if project.files.base_path is None:
        return discover(start_dir)
    env = resolve_environment(project, env_flag)
    return discover(
        start_dir,
        project=project.name,
        environment=env.name,
        configured_path=bundle_path(env.project, env.name, env.file_root),
    )
