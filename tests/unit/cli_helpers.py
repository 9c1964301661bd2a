"""Running the CLI in-process from a directory: helpers shared by unit tests."""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path

from metalab._cli.main import main


def invoke(args: list[str], cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(args)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(previous)
    return code, out.getvalue(), err.getvalue()


def _to_toml(doc: dict[str, object], prefix: str = "") -> str:
    scalars = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and scalars else []
    lines += [f"{k} = {json.dumps(v)}" for k, v in scalars.items()]
    for key, value in tables.items():
        assert isinstance(value, dict)
        lines.append(_to_toml(value, f"{prefix}.{key}" if prefix else key))
    return "\n".join(lines) + "\n"
