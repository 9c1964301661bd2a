"""Pydantic models of the user settings file."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ServerSettings(_Strict):
    host: str | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    token: SecretStr | None = None


class FolderSettings(_Strict):
    path: str
    mode: Literal["use", "backup", "move"]


class SshSettings(_Strict):
    host: str
    shell_init: str | None = None
    uv_offline: bool = False
    python: str | None = None
    metalab_path: str | None = None
    options: list[str] = Field(default_factory=list)


class WorkspaceSettings(_Strict):
    id: str
    path: str
    env: dict[str, str] = Field(default_factory=dict)
    triggers: list[str] = Field(default_factory=list)
    folders: list[FolderSettings] = Field(default_factory=list)
    ssh: SshSettings | None = None


class SettingsModel(_Strict):
    server: ServerSettings | None = None
    env: dict[str, str] = Field(default_factory=dict)
    workspaces: list[WorkspaceSettings] = Field(default_factory=list)
