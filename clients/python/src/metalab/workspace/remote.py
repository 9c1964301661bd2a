"""The SSH command line that runs metalab in a remote workspace. Pure: no I/O, no environment.

::

    ssh [options] [-o OPT ...] HOST '<shell_init>
    <metalab> ARG ...'

``<metalab>`` is ``ssh.metalab_path`` when set, else ``uv tool run [--offline] [--python P]
--from metalab==<this version> metalab``. ``shell_init`` is shell code by design and is passed
as written; it is separated from the command by a newline (a ``;`` that survives a trailing
comment or semicolon in ``shell_init``). Every other piece is quoted with `shlex.quote`; a
``metalab_path`` starting with ``~/`` keeps its tilde unquoted so the remote shell expands it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, replace

from metalab.errors import ConfigError
from metalab.workspace.settings import SshConfig


@dataclass(frozen=True)
class RemoteOverrides:
    """CLI flags over the workspace's ``ssh:`` values; None keeps the workspace value.

    An empty ``shell_init``/``python``/``metalab_path`` switches the value off;
    ``extra_options`` are ``ssh -o`` values added after the workspace's ``options``.
    """

    shell_init: str | None = None
    uv_offline: bool | None = None
    python: str | None = None
    metalab_path: str | None = None
    extra_options: tuple[str, ...] = ()


def apply_overrides(ssh: SshConfig, overrides: RemoteOverrides) -> SshConfig:
    def pick(flag: str | None, value: str | None) -> str | None:
        if flag is None:
            return value
        return flag or None

    options = list(ssh.options)
    for option in overrides.extra_options:
        options += ["-o", option]
    return replace(
        ssh,
        shell_init=pick(overrides.shell_init, ssh.shell_init),
        uv_offline=ssh.uv_offline if overrides.uv_offline is None else overrides.uv_offline,
        python=pick(overrides.python, ssh.python),
        metalab_path=pick(overrides.metalab_path, ssh.metalab_path),
        options=tuple(options),
    )


def _quote_path(path: str) -> str:
    if path.startswith("~/") and len(path) > 2:
        return "~/" + shlex.quote(path[2:])
    return shlex.quote(path)


def metalab_command(ssh: SshConfig, version: str, args: Sequence[str]) -> str:
    """The remote shell command (without ``shell_init``) that runs ``metalab ARGS``."""
    if ssh.metalab_path:
        head = [_quote_path(ssh.metalab_path)]
    else:
        head = ["uv", "tool", "run"]
        if ssh.uv_offline:
            head.append("--offline")
        if ssh.python:
            head += ["--python", shlex.quote(ssh.python)]
        head += ["--from", shlex.quote(f"metalab=={version}"), "metalab"]
    return " ".join([*head, *(shlex.quote(a) for a in args)])


def remote_argv(
    ssh: SshConfig, version: str, args: Sequence[str], ssh_binary: str = "ssh"
) -> list[str]:
    """``[ssh, *options, host, remote_command]`` (see the module docstring)."""
    if not ssh.host or ssh.host.startswith("-") or any(c.isspace() for c in ssh.host):
        raise ConfigError(f"invalid ssh host {ssh.host!r}", key="ssh.host")
    command = metalab_command(ssh, version, args)
    init = (ssh.shell_init or "").strip()
    remote = f"{init}\n{command}" if init else command
    return [ssh_binary, *ssh.options, ssh.host, remote]
