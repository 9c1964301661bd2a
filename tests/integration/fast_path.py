"""The CLI's fast path next to the orchestrator's answer: helpers shared by tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.local_services import as_root_env

RUN = (
    "import json, sys\n"
    "from metalab._cli.{module} import main\n"
    "code = 0\n"
    "try:\n"
    "    main({args!r})\n"
    "except SystemExit as exc:\n"
    "    code = exc.code if isinstance(exc.code, int) else 1\n"
    "sys.stdout.flush()\n"
    "print('MODULES ' + json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def invoke(
    project: Path, module: str, args: list[str], env: dict[str, str] | None = None
) -> tuple[int, str, str, set[str]]:
    """(exit code, stdout, stderr without the module list, modules imported)."""
    result = subprocess.run(
        [sys.executable, "-c", RUN.format(module=module, args=args)],
        cwd=project,
        env={**os.environ, **as_root_env(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
    )
    err, _, modules = result.stderr.rpartition("MODULES ")
    return result.returncode, result.stdout, err, set(json.loads(modules))


def fast(project: Path, *args: str) -> tuple[int, str, str, set[str]]:
    return invoke(project, "entry", list(args))


def grpc_path(project: Path, *args: str) -> tuple[int, str, str, set[str]]:
    return invoke(project, "main", list(args), {"METALAB_SHARED_ROOT": "/"})
