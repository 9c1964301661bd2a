"""Which server the client talks to: a configured one, or the embedded default."""

from __future__ import annotations

import os
from typing import Any, NamedTuple

from metalab.core.token import env_token
from metalab.errors import ConfigError
from metalab.workspace.settings_path import settings_file_exists, settings_path


class ServerTarget(NamedTuple):
    """A remote server address and its token; ``address`` None means embedded."""

    address: str | None
    token: str | None = None


def _server_settings() -> dict[str, Any]:
    path = settings_path()
    if not settings_file_exists(path):
        return {}
    from metalab.workspace.settings import load_settings

    return load_settings(path).server_dict()


def resolve_target() -> ServerTarget:
    """``METALAB_SERVER``/``METALAB_TOKEN[_FILE]`` win over ``server:`` in the settings file;
    without a configured token, a TCP server's generated token file (``~/.metalab/run``).

    A ``unix:`` address of this account's own `metalab server` (its owner socket, or the
    shared socket beside it) becomes the owner socket, without a token (`owner_socket`)."""
    address = os.environ.get("METALAB_SERVER")
    if address and address.startswith("unix:"):
        from metalab._client.owner_socket import owner_socket

        owner = owner_socket(address)
        if owner is not None:
            return ServerTarget(owner, None)
    server = _server_settings()
    token = env_token() or server.get("token")
    if not address and server.get("host"):
        if not server.get("port"):
            raise ConfigError(
                "server.host is set but server.port is not", file=str(settings_path())
            )
        address = f"{server['host']}:{server['port']}"
    if address and not token and not address.startswith("unix:"):
        from metalab._client.token_file import read_token

        token = read_token(address)  # the one `metalab server` generated, as Jupyter's
    return ServerTarget(address or None, token or None)


def server_token() -> str | None:
    """The token a server requires: ``METALAB_TOKEN[_FILE]``, else settings ``server.token``."""
    return env_token() or _server_settings().get("token") or None
