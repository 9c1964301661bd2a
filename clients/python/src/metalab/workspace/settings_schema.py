"""Pydantic models of the user settings file (imported only when a document must be validated).

Field names here are the YAML keys; `metalab.workspace.settings` turns a validated document
into plain frozen dataclasses so that nothing downstream imports pydantic.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints

NonEmpty = Annotated[str, StringConstraints(min_length=1)]
Identifier = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class ServerSettings(_Strict):
    host: NonEmpty | None = None
    port: Annotated[int, Field(ge=1, le=65535)] | None = None
    token: SecretStr | None = None


class FolderSettings(_Strict):
    path: NonEmpty
    mode: Literal["use", "backup", "move"]


class SshSettings(_Strict):
    host: Annotated[str, StringConstraints(pattern=r"^[^-\s][^\s]*$")]
    shell_init: str | None = None
    uv_offline: bool = False
    python: NonEmpty | None = None
    metalab_path: NonEmpty | None = None
    options: list[str] = Field(default_factory=list)


class WorkspaceSettings(_Strict):
    id: Identifier
    path: NonEmpty
    env: dict[str, str] = Field(default_factory=dict)
    triggers: list[NonEmpty] = Field(default_factory=list)
    folders: list[FolderSettings] = Field(default_factory=list)
    ssh: SshSettings | None = None


class SettingsModel(_Strict):
    server: ServerSettings | None = None
    env: dict[str, str] = Field(default_factory=dict)
    workspaces: list[WorkspaceSettings] = Field(default_factory=list)
