"""Where the user settings file is: cheap to import (the CLI's fast path asks on every call)."""

from __future__ import annotations

import os
from pathlib import Path


def settings_path() -> Path:
    """``$METALAB_SETTINGS``, else ``$XDG_CONFIG_HOME/metalab/settings.yaml`` (``~/.config``)."""
    explicit = os.environ.get("METALAB_SETTINGS")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "metalab" / "settings.yaml"


def settings_file_exists(path: Path) -> bool:
    """Whether ``path`` is a file; a path this account may not look at is a `ConfigError`."""
    try:
        return path.is_file()
    except OSError as exc:
        from metalab.errors import ConfigError

        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
