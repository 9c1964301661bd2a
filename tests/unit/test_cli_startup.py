"""Start-up cost: cheap commands import nothing heavy; every --help works."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import METALAB

HEAVY = ("grpc", "asyncssh", "psycopg", "pydantic", "starlette", "yaml")


def _imported_after(args: list[str], cwd: Path) -> set[str]:
    code = (
        "import sys, json\n"
        "from metalab._cli.main import main\n"
        "try:\n"
        f"    main({args!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=60
    )
    return set(json.loads(result.stderr.strip().splitlines()[-1]))


def test_env_list_imports_nothing_heavy_once_validated(tmp_path: Path) -> None:
    (tmp_path / ".metalab.toml").write_text('[environments.local]\ntype = "local"\n')
    _imported_after(["env", "list"], tmp_path)  # first run validates and caches
    modules = _imported_after(["env", "list"], tmp_path)
    assert not [m for m in modules if m.split(".")[0] in HEAVY]


def test_discover_imports_nothing_heavy(tmp_path: Path) -> None:
    modules = _imported_after(["discover"], tmp_path)
    assert not [m for m in modules if m.split(".")[0] in HEAVY]


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["env"],
        ["env", "list"],
        ["env", "show"],
        ["discover"],
        ["services"],
        ["services", "up"],
        ["services", "status"],
        ["services", "down"],
        ["services", "logs"],
        ["services", "rebuild-index"],
        ["server"],
        ["settings", "show"],
        ["orphans"],
        ["runs", "recover"],
        ["store"],
        ["store", "reindex"],
        ["store", "export"],
        ["store", "import"],
        ["store", "list"],
    ],
)
def test_every_help_works(args: list[str], tmp_path: Path) -> None:
    result = subprocess.run(
        [METALAB, *args, "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "Usage:" in result.stdout
