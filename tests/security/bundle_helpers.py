"""Projects and bundle paths shared by the untrusted-bundle and crash-consistency tests."""

from __future__ import annotations

from pathlib import Path

ATLAS_ONLY = """
[project]
name = "{name}"

[services.atlas]

[environments.local]
type = "local"
file_root = "./runs"
"""


PG_ATLAS = """
[project]
name = "{name}"

[services.postgres]
[services.atlas]

[environments.local]
type = "local"
file_root = "./runs"
"""


def make_project(root: Path, name: str = "mine", template: str = ATLAS_ONLY) -> Path:
    project = root / name
    project.mkdir()
    (project / ".metalab.toml").write_text(template.format(name=name))
    return project


def bundle_file(project: Path) -> Path:
    return project / "runs" / "services" / "bundle.json"
