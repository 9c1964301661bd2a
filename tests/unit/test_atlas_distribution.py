"""Atlas is its own distribution: the client neither declares nor imports the web stack."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "python"
ATLAS = ROOT / "services" / "atlas"
WEB_STACK = {"fastapi", "starlette", "uvicorn", "metalab_atlas"}


def requirement_names(pyproject: Path) -> set[str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    names: set[str] = set()
    for requirement in project["dependencies"]:
        name = requirement.split(";")[0].split("[")[0]
        for stop in "<>=!~ ":
            name = name.split(stop)[0]
        names.add(name.strip().lower().replace("-", "_"))
    return names


def imported_roots(path: Path) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_client_wheel_does_not_require_the_web_stack() -> None:
    assert requirement_names(CLIENT / "pyproject.toml").isdisjoint(WEB_STACK)
    atlas = requirement_names(ATLAS / "pyproject.toml")
    assert {"metalab", "starlette", "uvicorn"} <= atlas
    assert "fastapi" not in atlas and "pydantic" not in atlas  # Atlas starts without them


def test_no_client_module_imports_the_web_stack_or_atlas() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & WEB_STACK)
        for path in (CLIENT / "src" / "metalab").rglob("*.py")
        if imported_roots(path) & WEB_STACK
    }
    assert offenders == {}


def test_atlas_wheel_ships_its_static_files() -> None:
    wheel = tomllib.loads((ATLAS / "pyproject.toml").read_text())["tool"]["hatch"]["build"]
    assert wheel["targets"]["wheel"]["artifacts"] == ["src/metalab_atlas/static/**"]
    static = ATLAS / "src" / "metalab_atlas" / "static"
    assert (static / "index.html").is_file() and (static / "vendor" / "uPlot.iife.min.js").is_file()


def test_atlas_builds_its_app_without_pydantic(tmp_path: Path) -> None:
    """What ``python -m metalab_atlas`` imports before serving: no FastAPI, no pydantic, no
    array readers (the first answer needs none of them)."""
    code = (
        "import sys, uvicorn, metalab_atlas.__main__\n"
        "from metalab_atlas.app import create_app\n"
        f"create_app({str(tmp_path)!r}, token='t')\n"
        "heavy = ('fastapi', 'pydantic', 'pydantic_core', 'metalab_atlas.arrays')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]", result.stderr
