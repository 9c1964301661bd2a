"""Pure builders: an SSH target and its forwards → asyncssh connect kwargs or an OpenSSH argv.

No I/O, no clock, no environment reads: ``~`` in paths is left for asyncssh / ssh to expand.
Shared by the tunnel service (`metalab_tunnel`) and Atlas's SSH stores (`metalab_atlas.remote`),
so both read ``~/.ssh/config``, the agent and known hosts alike and always check host keys.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from metalab.core.errors import ConfigError

TunnelMode = Literal["jump", "gateway"]
MODES: tuple[TunnelMode, ...] = ("jump", "gateway")
LOCAL_HOST = "127.0.0.1"
MASTER_READY = "metalab-master-ready"

DataPath = Literal["openssh", "asyncssh"]
DATA_PATHS: tuple[DataPath, ...] = ("openssh", "asyncssh")  # the first is the default

# AES-GCM runs inside OpenSSL (via `cryptography`) and is the fastest cipher asyncssh has;
# OpenSSH prefers chacha20-poly1305, which asyncssh computes far more slowly.
PREFERRED_CIPHERS: tuple[str, ...] = (
    "aes128-gcm@openssh.com",
    "aes256-gcm@openssh.com",
    "chacha20-poly1305@openssh.com",
    "aes128-ctr",
    "aes256-ctr",
)

# OpenSSH `-o` options we translate; anything else is refused loudly.
SUPPORTED_OPTIONS = (
    "Ciphers",
    "Compression",
    "ConnectTimeout",
    "IdentitiesOnly",
    "IdentityFile",
    "ServerAliveCountMax",
    "ServerAliveInterval",
    "StrictHostKeyChecking",
    "UserKnownHostsFile",
)


@dataclass(frozen=True)
class Endpoint:
    """``[user@]host[:port]`` split into its parts."""

    host: str
    user: str | None = None
    port: int | None = None

    def label(self) -> str:
        user = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        return f"{user}{self.host}{port}"


@dataclass(frozen=True)
class SshTarget:
    """How to reach the remote hosts: the environment's gateway, user, key and mode."""

    gateway: str
    user: str | None = None
    ssh_key: str | None = None
    mode: TunnelMode = "jump"
    data_path: DataPath = "openssh"
    accept_new_host_key: bool = False
    options: tuple[str, ...] = ()
    config_files: tuple[str, ...] | None = None  # None: ~/.ssh/config, as ssh does
    keepalive_interval: float = 15.0
    keepalive_count_max: int = 3
    connect_timeout: float = 15.0


@dataclass(frozen=True)
class ForwardSpec:
    """One service to forward: ``local_port`` (0 = any free one) → ``remote_host:remote_port``."""

    service: str
    remote_host: str
    remote_port: int
    local_port: int = 0
    scheme: str = ""


@dataclass(frozen=True)
class SshOptions:
    """The `-o` options of a target, validated and typed."""

    ciphers: tuple[str, ...] | None = None
    compression: bool | None = None
    connect_timeout: float | None = None
    identities_only: bool = False
    identity_files: tuple[str, ...] = ()
    keepalive_count_max: int | None = None
    keepalive_interval: float | None = None
    accept_new_host_key: bool = False
    known_hosts: tuple[str, ...] | None = None


def parse_destination(text: str) -> Endpoint:
    """Split ``[user@]host[:port]`` (IPv6 as ``[addr]:port``); raise ConfigError when malformed."""
    rest = text.strip()
    user: str | None = None
    if "@" in rest:
        user, rest = rest.rsplit("@", 1)
        if not user:
            raise ConfigError(f"empty user name in {text!r}", key="gateway")
    port_text: str | None = None
    if rest.startswith("["):
        host, sep, tail = rest[1:].partition("]")
        if not sep or (tail and not tail.startswith(":")):
            raise ConfigError(f"malformed host {text!r}", key="gateway")
        port_text = tail[1:] or None
    elif rest.count(":") == 1:
        host, port_text = rest.split(":")
    else:
        host = rest
    if not host or any(c.isspace() for c in host):
        raise ConfigError(f"malformed host {text!r}", key="gateway")
    port: int | None = None
    if port_text is not None:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"bad port in {text!r}", key="gateway")
        port = int(port_text)
    return Endpoint(host=host, user=user, port=port)


def _bool(name: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("yes", "true"):
        return True
    if lowered in ("no", "false"):
        return False
    raise ConfigError(f"option {name} takes yes or no, not {value!r}", key="options")


def _number(name: str, value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(f"option {name} takes a number, not {value!r}", key="options") from None
    if number < 0:
        raise ConfigError(f"option {name} must not be negative", key="options")
    return number


def parse_options(options: Sequence[str]) -> SshOptions:
    """Validate OpenSSH-style ``Key=Value`` options; unknown keys fail with the valid list."""
    values: dict[str, str] = {}
    identity_files: list[str] = []
    canonical = {name.lower(): name for name in SUPPORTED_OPTIONS}
    for raw in options:
        key, sep, value = raw.partition("=")
        if not sep:
            key, _, value = raw.strip().partition(" ")
        key, value = key.strip(), value.strip()
        name = canonical.get(key.lower())
        if name is None:
            raise ConfigError(
                f"unsupported ssh option {key!r}; supported: {', '.join(SUPPORTED_OPTIONS)}",
                key="options",
            )
        if not value:
            raise ConfigError(f"option {name} needs a value", key="options")
        if name == "IdentityFile":
            identity_files.append(value)
        else:
            values[name] = value
    strict = values.get("StrictHostKeyChecking", "yes").lower()
    if strict not in ("yes", "accept-new"):
        raise ConfigError(
            "StrictHostKeyChecking must be yes or accept-new: host keys are always verified",
            key="options",
        )

    def num(name: str) -> float | None:
        return _number(name, values[name]) if name in values else None

    count = num("ServerAliveCountMax")
    return SshOptions(
        ciphers=tuple(values["Ciphers"].split(",")) if "Ciphers" in values else None,
        compression=_bool("Compression", values["Compression"])
        if "Compression" in values
        else None,
        connect_timeout=num("ConnectTimeout"),
        identities_only=_bool("IdentitiesOnly", values.get("IdentitiesOnly", "no")),
        identity_files=tuple(identity_files),
        keepalive_count_max=int(count) if count is not None else None,
        keepalive_interval=num("ServerAliveInterval"),
        accept_new_host_key=strict == "accept-new",
        known_hosts=tuple(values["UserKnownHostsFile"].split())
        if "UserKnownHostsFile" in values
        else None,
    )


def accepts_new_host_key(target: SshTarget) -> bool:
    return target.accept_new_host_key or parse_options(target.options).accept_new_host_key


def _common_kwargs(target: SshTarget) -> dict[str, object]:
    opts = parse_options(target.options)
    kwargs: dict[str, object] = {
        # Public keys only (agent, ssh_key, ~/.ssh/id_*): never prompt for a password.
        "password_auth": False,
        "kbdint_auth": False,
        "keepalive_interval": opts.keepalive_interval
        if opts.keepalive_interval is not None
        else target.keepalive_interval,
        "keepalive_count_max": opts.keepalive_count_max or target.keepalive_count_max,
        "connect_timeout": opts.connect_timeout or target.connect_timeout,
        "encryption_algs": list(opts.ciphers or PREFERRED_CIPHERS),
    }
    if target.config_files is not None:
        kwargs["config"] = list(target.config_files)
    keys = [k for k in (target.ssh_key, *opts.identity_files) if k]
    if keys:
        kwargs["client_keys"] = keys
    if opts.identities_only:
        kwargs["agent_path"] = None
    if opts.compression is not None:
        kwargs["compression_algs"] = ["zlib@openssh.com", "zlib"] if opts.compression else None
    if opts.known_hosts is not None:
        kwargs["known_hosts"] = list(opts.known_hosts)
    return kwargs


def _hop_kwargs(target: SshTarget, destination: str) -> dict[str, object]:
    endpoint = parse_destination(destination)
    kwargs = {"host": endpoint.host, **_common_kwargs(target)}
    if endpoint.port is not None:
        kwargs["port"] = endpoint.port
    user = endpoint.user or target.user
    if user:
        kwargs["username"] = user
    return kwargs


def gateway_connect_kwargs(target: SshTarget) -> dict[str, object]:
    """Keyword arguments for ``asyncssh.connect`` to the gateway."""
    return _hop_kwargs(target, target.gateway)


def node_connect_kwargs(target: SshTarget, node: str) -> dict[str, object]:
    """Keyword arguments for ``asyncssh.connect`` to a node; the caller adds ``tunnel=gateway``."""
    return _hop_kwargs(target, node)


def _quote_files(files: Sequence[str]) -> str:
    return " ".join(f'"{f}"' if any(c.isspace() for c in f) else f for f in files)


def _known_hosts_args(files: Sequence[str] | None) -> list[str]:
    """Pin host key checking to exactly ``files`` (what the asyncssh path reads), nothing else."""
    if files is None:
        return []
    return [
        "-o",
        f"UserKnownHostsFile={_quote_files(files)}",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
    ]


def _config_args(target: SshTarget) -> list[str]:
    if target.config_files is None:
        return []
    return ["-F", target.config_files[0] if target.config_files else "none"]


def _base_argv(target: SshTarget, known_hosts: Sequence[str] | None = None) -> list[str]:
    opts = parse_options(target.options)
    argv = [
        "ssh",
        "-N",
        "-o", "BatchMode=yes",
        "-o", "ExitOnForwardFailure=yes",
        "-o", f"ServerAliveInterval={int(opts.keepalive_interval or target.keepalive_interval)}",
        "-o", f"ServerAliveCountMax={opts.keepalive_count_max or target.keepalive_count_max}",
        "-o", f"ConnectTimeout={int(opts.connect_timeout or target.connect_timeout)}",
        "-o", f"StrictHostKeyChecking={'accept-new' if accepts_new_host_key(target) else 'yes'}",
        *_known_hosts_args(known_hosts),
        *_config_args(target),
    ]  # fmt: skip
    if target.ssh_key:
        argv += ["-i", target.ssh_key]
    for option in target.options:
        if not option.lower().startswith("stricthostkeychecking"):
            argv += ["-o", option]
    return argv


def _destination_args(endpoint: Endpoint, default_user: str | None) -> list[str]:
    user = endpoint.user or default_user
    port = ["-p", str(endpoint.port)] if endpoint.port else []
    return [*port, f"{user}@{endpoint.host}" if user else endpoint.host]


def _proxy_command(target: SshTarget, known_hosts: Sequence[str] | None) -> str:
    """``ProxyCommand=ssh … -W %h:%p gateway``: the gateway hop with the same key and checks."""
    opts = parse_options(target.options)
    proxy = ["ssh"] + (["-i", target.ssh_key] if target.ssh_key else [])
    proxy += [
        "-o", "BatchMode=yes",
        "-o", f"ConnectTimeout={int(opts.connect_timeout or target.connect_timeout)}",
        "-o", f"StrictHostKeyChecking={'accept-new' if accepts_new_host_key(target) else 'yes'}",
        *_known_hosts_args(known_hosts),
        *_config_args(target),
    ]  # fmt: skip
    for option in target.options:
        if not option.lower().startswith("stricthostkeychecking"):
            proxy += ["-o", option]
    gateway = _destination_args(parse_destination(target.gateway), target.user)
    quoted = [shlex.quote(arg).replace("%", "%%") for arg in proxy]
    return "ProxyCommand=" + " ".join([*quoted, "-W", "%h:%p", *map(shlex.quote, gateway)])


def _route_args(
    target: SshTarget, node: str | None, proxy_known_hosts: Sequence[str] | None = None
) -> list[str]:
    """The destination: the gateway itself (``node`` None), or ``node`` through the gateway.

    With ``ssh_key`` or pinned known_hosts the jump hop is a ProxyCommand, because ``-J`` passes
    neither ``-i`` nor ``-o`` options on.
    """
    gateway = parse_destination(target.gateway)
    if node is None:
        return _destination_args(gateway, target.user)
    if target.ssh_key or proxy_known_hosts is not None:
        hop = ["-o", _proxy_command(target, proxy_known_hosts)]
    else:
        hop = ["-J", gateway.label() if gateway.user or not target.user else
               f"{target.user}@{gateway.label()}"]  # fmt: skip
    return hop + _destination_args(parse_destination(node), target.user)


def ssh_argv(target: SshTarget, forwards: Sequence[tuple[ForwardSpec, int]]) -> list[str]:
    """The OpenSSH command doing what the tunnel does; ``forwards`` pairs a spec with its port.

    jump:    ssh -N -L PORT:127.0.0.1:RPORT -J user@gateway user@node
    gateway: ssh -N -L PORT:node:RPORT user@gateway
    With ``ssh_key`` the jump hop is a ProxyCommand, because ``-J`` does not pass ``-i`` on.
    """
    if not forwards:
        raise ConfigError("no forwards to open", key="forwards")
    argv = _base_argv(target)
    if target.mode == "gateway":
        for spec, port in forwards:
            argv += ["-L", f"{LOCAL_HOST}:{port}:{spec.remote_host}:{spec.remote_port}"]
        return argv + _route_args(target, None)
    nodes = {spec.remote_host for spec, _ in forwards}
    if len(nodes) != 1:
        raise ConfigError(f"jump mode needs one node per ssh command, got {sorted(nodes)}")
    for spec, port in forwards:
        argv += ["-L", f"{LOCAL_HOST}:{port}:{LOCAL_HOST}:{spec.remote_port}"]
    return argv + _route_args(target, nodes.pop())


def master_argv(
    target: SshTarget,
    node: str | None,
    control_path: str,
    known_hosts: Sequence[str],
    gateway_known_hosts: Sequence[str],
) -> list[str]:
    """``ssh -N`` as a ControlMaster on ``control_path`` to the gateway (``node`` None) or node.

    Host keys are checked against exactly ``known_hosts`` (the destination's files) and, for the
    jump hop, ``gateway_known_hosts`` (what the asyncssh path reads), never against
    /etc/ssh/ssh_known_hosts. Once the control socket listens it prints ``MASTER_READY``.
    """
    escaped = control_path.replace("%", "%%")
    argv = _base_argv(target, known_hosts)
    argv += [
        "-o", "ControlMaster=yes",
        "-o", f"ControlPath={escaped}",
        "-o", "ControlPersist=no",
        "-o", "PermitLocalCommand=yes",
        "-o", f"LocalCommand=echo {MASTER_READY}",
    ]  # fmt: skip
    return argv + _route_args(target, node, gateway_known_hosts if node is not None else None)
