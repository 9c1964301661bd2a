"""PostgreSQL settings and the handle of a running server (pure data, JSON-serialisable)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import quote, urlencode

from metalab.core.errors import ConfigError

AuthMethod = Literal["scram-sha-256", "md5", "trust", "password"]
AUTH_METHODS: tuple[AuthMethod, ...] = ("scram-sha-256", "md5", "trust", "password")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,62}")
_RESERVED = {"all", "replication", "samerole", "sameuser", "samegroup"}


def check_name(value: str, key: str) -> str:
    """Accept a database or role name that needs no quoting in config files."""
    if not _NAME.fullmatch(value) or value.lower() in _RESERVED:
        raise ConfigError(
            f"{value!r} is not a usable name (letters, digits, '_', '.', '-'; "
            "at most 63; not a pg_hba keyword)",
            key=key,
        )
    return value


@dataclass(frozen=True)
class PostgresSettings:
    """``[services.postgres]`` as the local backend uses it."""

    auth_method: AuthMethod = "scram-sha-256"
    database: str = "metalab"
    user: str = "metalab"
    port: int | None = None
    password: str | None = None
    run_as: str | None = None
    start_timeout: float = 30.0
    # Addresses the server listens on: loopback by default; "*" on a compute node (SLURM),
    # where clients elsewhere in the cluster connect (password auth required then).
    listen: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.auth_method not in AUTH_METHODS:
            raise ConfigError(
                f"unknown auth_method {self.auth_method!r}; use one of {', '.join(AUTH_METHODS)}",
                key="services.postgres.auth_method",
            )
        check_name(self.database, "services.postgres.database")
        check_name(self.user, "services.postgres.user")
        if self.port is not None and not 1 <= self.port <= 65535:
            raise ConfigError(f"port {self.port} is out of range", key="services.postgres.port")
        if self.password is not None and (
            not self.password or any(c in self.password for c in "\r\n\0")
        ):
            raise ConfigError(
                "password must be non-empty and free of newlines and NUL",
                key="services.postgres.password",
            )
        if self.start_timeout <= 0:
            raise ConfigError("must be positive", key="services.postgres.start_timeout")
        if self.listen != "127.0.0.1" and self.auth_method == "trust":
            raise ConfigError(
                "trust authentication is only allowed on loopback",
                key="services.postgres.auth_method",
            )

    def __repr__(self) -> str:  # keep the password out of logs and tracebacks
        shown = "'***'" if self.password is not None else "None"
        return (
            f"PostgresSettings(auth_method={self.auth_method!r}, database={self.database!r}, "
            f"user={self.user!r}, port={self.port!r}, password={shown}, run_as={self.run_as!r}, "
            f"start_timeout={self.start_timeout!r}, listen={self.listen!r})"
        )


def build_locator(
    *,
    user: str,
    host: str,
    port: int,
    database: str,
    passfile: Path,
    file_root: str | Path | None = None,
) -> str:
    """``postgresql://USER@HOST:PORT/DB?passfile=...&file_root=...``; never holds a password."""
    query: dict[str, str] = {"passfile": str(passfile)}
    if file_root is not None:
        query["file_root"] = str(file_root)
    netloc = f"{quote(user, safe='')}@{host}:{port}"
    return f"postgresql://{netloc}/{quote(database, safe='')}?{urlencode(query, quote_via=quote)}"


@dataclass(frozen=True)
class PostgresHandle:
    """Where a started server is and how to reach it; the password stays in its files."""

    host: str
    port: int
    pid: int
    start_time: int
    data_dir: Path
    socket_dir: Path
    password_file: Path
    passfile: Path
    log_path: Path
    database: str
    user: str

    def locator(self, file_root: str | Path | None = None) -> str:
        """The store locator for this server (``passfile=``, optional ``file_root=``)."""
        return build_locator(
            user=self.user,
            host=self.host,
            port=self.port,
            database=self.database,
            passfile=self.passfile,
            file_root=file_root,
        )

    def to_dict(self) -> dict[str, str | int]:
        """JSON-ready fields (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> PostgresHandle:
        """Inverse of ``to_dict``; raises ``KeyError`` or ``TypeError`` on malformed data."""
        return cls(
            host=_str(data, "host"),
            port=_int(data, "port"),
            pid=_int(data, "pid"),
            start_time=_int(data, "start_time"),
            data_dir=Path(_str(data, "data_dir")),
            socket_dir=Path(_str(data, "socket_dir")),
            password_file=Path(_str(data, "password_file")),
            passfile=Path(_str(data, "passfile")),
            log_path=Path(_str(data, "log_path")),
            database=_str(data, "database"),
            user=_str(data, "user"),
        )


def _str(data: Mapping[str, object], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise TypeError(f"{key} must be a string, not {type(value).__name__}")
    return value


def _int(data: Mapping[str, object], key: str) -> int:
    value = data[key]
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{key} must be an integer, not {type(value).__name__}")
    return value
