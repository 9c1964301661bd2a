"""The orchestrator's refusal when its account may not write a path names what to open up."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from metalab_orchestrator.servicer import permission_denied


def test_a_path_that_cannot_be_created_names_its_existing_parent(tmp_path: Path) -> None:
    exc = PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "runs" / "services"))
    uid = os.getuid()
    assert permission_denied(exc) == (
        f"{tmp_path}/runs/services: permission denied to the server's account (uid {uid}):"
        f" give it write access to {tmp_path}, e.g. chown {uid} {tmp_path}"
    )


def test_an_existing_path_names_itself(tmp_path: Path) -> None:
    exc = PermissionError(errno.EACCES, "Permission denied", str(tmp_path))
    assert permission_denied(exc).endswith(f"e.g. chown {os.getuid()} {tmp_path}")


def test_without_a_file_name_it_still_names_the_account() -> None:
    message = permission_denied(PermissionError(errno.EACCES, "Permission denied"))
    assert message == f"permission denied to the server's account (uid {os.getuid()})"
