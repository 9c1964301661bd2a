"""Running the CLI in-process from a directory: helpers shared by unit tests."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from metalab._cli.main import main


def run_in(
    function: Callable[[list[str]], Any], args: list[str], cwd: Path
) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``function(args)`` run in ``cwd``.

    The stderr handler a ``-v`` run installs on the root logger is removed afterwards.
    """
    out, err = io.StringIO(), io.StringIO()
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                function(args)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(previous)
        logging.getLogger().handlers[:] = [
            h for h in logging.getLogger().handlers if type(h).__name__ != "_StderrHandler"
        ]
    return code, out.getvalue(), err.getvalue()


def invoke(args: list[str], cwd: Path) -> tuple[int, str, str]:
    """`run_in` for the CLI's ``main``."""
    return run_in(main, args, cwd)


def _to_toml(doc: dict[str, object], prefix: str = "") -> str:
    scalars = {k: v for k, v in doc.items() if not isinstance(v, dict)}
    tables = {k: v for k, v in doc.items() if isinstance(v, dict)}
    lines = [f"[{prefix}]"] if prefix and scalars else []
    lines += [f"{k} = {json.dumps(v)}" for k, v in scalars.items()]
    for key, value in tables.items():
        assert isinstance(value, dict)
        lines.append(_to_toml(value, f"{prefix}.{key}" if prefix else key))
    return "\n".join(lines) + "\n"
