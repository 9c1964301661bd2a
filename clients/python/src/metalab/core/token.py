"""The bearer token a process presents to a metalab server, from its environment."""

from __future__ import annotations

import os
from pathlib import Path

from metalab.core.errors import ConfigError


def env_token() -> str | None:
    """``METALAB_TOKEN``, else the content of ``METALAB_TOKEN_FILE`` (e.g. a Docker secret)."""
    token = os.environ.get("METALAB_TOKEN")
    if token:
        return token
    path = os.environ.get("METALAB_TOKEN_FILE")
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", key="METALAB_TOKEN_FILE") from None
    if not text or any(c in text for c in "\r\n\0"):
        raise ConfigError(f"{path} must hold one non-empty line", key="METALAB_TOKEN_FILE")
    return text
