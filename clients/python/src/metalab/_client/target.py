"""Which server the client talks to: a configured one, or the embedded default."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from metalab._settings import settings_path
from metalab.errors import ConfigError


@dataclass(frozen=True)
class ServerTarget:
    """A remote server address and its token; ``address`` None means embedded."""

    address: str | None
    token: str | None = None


def _server_settings() -> dict[str, Any]:
    path = settings_path()
    if not path.is_file():
        return {}
    from metalab._settings import load_settings

    return load_settings(path).server_dict()


def resolve_target() -> ServerTarget:
    """``METALAB_SERVER``/``METALAB_TOKEN`` win over ``server:`` in the settings file."""
    server = _server_settings()
    token = os.environ.get("METALAB_TOKEN") or server.get("token")
    address = os.environ.get("METALAB_SERVER")
    if not address and server.get("host"):
        if not server.get("port"):
            raise ConfigError(
                "server.host is set but server.port is not", file=str(settings_path())
            )
        address = f"{server['host']}:{server['port']}"
    return ServerTarget(address or None, token or None)


def server_token() -> str | None:
    """The token a server should require: ``METALAB_TOKEN``, else settings ``server.token``."""
    return os.environ.get("METALAB_TOKEN") or _server_settings().get("token") or None
