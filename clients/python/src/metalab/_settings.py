"""The user settings file (``~/.config/metalab/settings.yaml``): server, env, workspaces."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from metalab.errors import ConfigError

_ENV_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Settings:
    path: Path
    document: dict[str, Any]

    def server_dict(self) -> dict[str, Any]:
        server = self.document.get("server") or {}
        return dict(server)


def _expand(value: Any, path: Path, key: str) -> Any:
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in os.environ:
                raise ConfigError(f"${{env:{name}}} is not set", file=str(path), key=key)
            return os.environ[name]

        return _ENV_REF.sub(substitute, value)
    if isinstance(value, dict):
        return {k: _expand(v, path, f"{key}.{k}" if key else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, path, f"{key}[{i}]") for i, v in enumerate(value)]
    return value


def load_settings(path: Path) -> Settings:
    """Read, expand ``${env:VAR}`` and validate; errors name the file and the dotted key."""
    import yaml

    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {str(exc).splitlines()[0]}", file=str(path)) from exc
    if document is None:
        raise ConfigError("empty settings file (delete it or add keys)", file=str(path))
    if not isinstance(document, dict):
        raise ConfigError("expected a mapping at the top level", file=str(path))
    document = _expand(document, path, "")
    from metalab._config.validate import validate_document

    def validator(doc: Any) -> None:
        from metalab._settings_schema import SettingsModel

        SettingsModel.model_validate(doc)

    validate_document("settings", document, validator, lambda _key: str(path), ("settings",))
    return Settings(path, document)
