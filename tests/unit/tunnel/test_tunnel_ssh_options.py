"""Pure builders: connect kwargs and the OpenSSH argv, no processes."""

from __future__ import annotations

import shlex

import pytest

from metalab.core.ssh_options import (
    MASTER_READY,
    PREFERRED_CIPHERS,
    Endpoint,
    ForwardSpec,
    SshTarget,
    gateway_connect_kwargs,
    master_argv,
    node_connect_kwargs,
    parse_destination,
    parse_options,
    ssh_argv,
)
from metalab.errors import ConfigError

ATLAS = ForwardSpec("atlas", "node01", 8123, 8000, "http")
PG = ForwardSpec("postgres", "node01", 5999, 0, "postgresql")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gw", Endpoint("gw")),
        ("alice@gw.example.org", Endpoint("gw.example.org", "alice")),
        ("alice@gw:2222", Endpoint("gw", "alice", 2222)),
        ("[::1]:2200", Endpoint("::1", None, 2200)),
        ("fe80::1", Endpoint("fe80::1")),
    ],
)
def test_parse_destination(text: str, expected: Endpoint) -> None:
    assert parse_destination(text) == expected


@pytest.mark.parametrize("text", ["", "@gw", "gw:0", "gw:99999", "gw:x", "g w", "[::1"])
def test_parse_destination_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_destination(text)


def test_gateway_kwargs_defaults_to_ssh_config_and_public_keys_only() -> None:
    kwargs = gateway_connect_kwargs(SshTarget(gateway="hpc"))
    assert kwargs["host"] == "hpc"
    assert "config" not in kwargs  # asyncssh then reads ~/.ssh/config, like ssh
    assert "username" not in kwargs and "port" not in kwargs and "client_keys" not in kwargs
    assert kwargs["password_auth"] is False and kwargs["kbdint_auth"] is False
    assert kwargs["encryption_algs"] == list(PREFERRED_CIPHERS)
    assert kwargs["keepalive_interval"] == 15.0 and kwargs["keepalive_count_max"] == 3


def test_gateway_kwargs_user_port_key_and_options() -> None:
    target = SshTarget(
        gateway="gw:2222",
        user="alice",
        ssh_key="~/.ssh/cluster",
        config_files=("/etc/metalab/ssh_config",),
        options=(
            "ServerAliveInterval=5",
            "ServerAliveCountMax 2",
            "Ciphers=aes256-gcm@openssh.com",
            "UserKnownHostsFile=/k1 /k2",
            "IdentityFile=~/.ssh/other",
            "Compression=yes",
        ),
    )
    kwargs = gateway_connect_kwargs(target)
    assert kwargs["host"] == "gw" and kwargs["port"] == 2222 and kwargs["username"] == "alice"
    assert kwargs["client_keys"] == ["~/.ssh/cluster", "~/.ssh/other"]
    assert kwargs["config"] == ["/etc/metalab/ssh_config"]
    assert kwargs["keepalive_interval"] == 5.0 and kwargs["keepalive_count_max"] == 2
    assert kwargs["encryption_algs"] == ["aes256-gcm@openssh.com"]
    assert kwargs["known_hosts"] == ["/k1", "/k2"]
    assert kwargs["compression_algs"] == ["zlib@openssh.com", "zlib"]


def test_user_in_destination_wins_and_node_gets_target_user() -> None:
    target = SshTarget(gateway="bob@gw", user="alice")
    assert gateway_connect_kwargs(target)["username"] == "bob"
    node = node_connect_kwargs(target, "node07")
    assert node["host"] == "node07" and node["username"] == "alice"


def test_identities_only_disables_the_agent() -> None:
    kwargs = gateway_connect_kwargs(SshTarget(gateway="gw", options=("IdentitiesOnly=yes",)))
    assert kwargs["agent_path"] is None


@pytest.mark.parametrize(
    ("option", "fragment"),
    [
        ("ProxyCommand=nc %h %p", "unsupported ssh option 'ProxyCommand'"),
        ("StrictHostKeyChecking=no", "host keys are always verified"),
        ("ServerAliveInterval=soon", "takes a number"),
        ("Compression=maybe", "takes yes or no"),
        ("Ciphers=", "needs a value"),
    ],
)
def test_bad_options_fail_loudly(option: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_options([option])


def test_accept_new_via_option() -> None:
    assert parse_options(["StrictHostKeyChecking=accept-new"]).accept_new_host_key


def test_argv_jump_mode_uses_minus_j_and_loopback_on_the_node() -> None:
    target = SshTarget(gateway="gw.example.org", user="alice")
    argv = ssh_argv(target, [(ATLAS, 8000), (PG, 41000)])
    assert argv[:2] == ["ssh", "-N"]
    assert "BatchMode=yes" in argv and "ExitOnForwardFailure=yes" in argv
    assert "StrictHostKeyChecking=yes" in argv
    assert argv[argv.index("-J") + 1] == "alice@gw.example.org"
    ls = [argv[i + 1] for i, a in enumerate(argv) if a == "-L"]
    assert ls == ["127.0.0.1:8000:127.0.0.1:8123", "127.0.0.1:41000:127.0.0.1:5999"]
    assert argv[-1] == "alice@node01"


def test_argv_gateway_mode_forwards_to_node_from_the_gateway() -> None:
    target = SshTarget(gateway="alice@gw:2222", mode="gateway", accept_new_host_key=True)
    argv = ssh_argv(target, [(ATLAS, 8000)])
    assert argv[argv.index("-L") + 1] == "127.0.0.1:8000:node01:8123"
    assert argv[-3:] == ["-p", "2222", "alice@gw"]
    assert "StrictHostKeyChecking=accept-new" in argv and "-J" not in argv


def test_argv_jump_with_key_uses_a_proxycommand_carrying_the_key() -> None:
    target = SshTarget(gateway="gw:2200", user="al ice", ssh_key="/keys/my key")
    argv = ssh_argv(target, [(ATLAS, 8000)])
    assert argv[argv.index("-i") + 1] == "/keys/my key"
    proxy = next(a for a in argv if a.startswith("ProxyCommand="))
    inner = shlex.split(proxy.removeprefix("ProxyCommand="))
    assert inner[:3] == ["ssh", "-i", "/keys/my key"]
    assert inner[-4:] == ["%h:%p", "-p", "2200", "al ice@gw"]
    assert argv[-1] == "al ice@node01"


def test_argv_jump_refuses_two_nodes() -> None:
    other = ForwardSpec("postgres", "node02", 5432)
    with pytest.raises(ConfigError, match="one node"):
        ssh_argv(SshTarget(gateway="gw"), [(ATLAS, 8000), (other, 0)])


def test_argv_passes_extra_options_through() -> None:
    argv = ssh_argv(SshTarget(gateway="gw", options=("Ciphers=aes128-gcm@openssh.com",)),
                    [(ATLAS, 8000)])  # fmt: skip
    assert argv[argv.index("Ciphers=aes128-gcm@openssh.com") - 1] == "-o"


def _opt(argv: list[str], name: str) -> list[str]:
    return [a.split("=", 1)[1] for a in argv if a.startswith(name + "=")]


def test_master_argv_gateway_mode_pins_known_hosts_and_signals_ready() -> None:
    target = SshTarget(gateway="alice@gw:2222", mode="gateway", config_files=())
    argv = master_argv(target, None, "/run/m%0", ["/k/g", "/k/my hosts"], ["/k/a"])
    assert argv[:2] == ["ssh", "-N"] and argv[-3:] == ["-p", "2222", "alice@gw"]
    assert _opt(argv, "UserKnownHostsFile") == ['/k/g "/k/my hosts"']
    assert _opt(argv, "GlobalKnownHostsFile") == ["/dev/null"]
    assert _opt(argv, "StrictHostKeyChecking") == ["yes"] and "BatchMode=yes" in argv
    assert _opt(argv, "ControlMaster") == ["yes"] and _opt(argv, "ControlPath") == ["/run/m%%0"]
    assert _opt(argv, "ControlPersist") == ["no"]
    assert _opt(argv, "LocalCommand") == [f"echo {MASTER_READY}"]
    assert argv[argv.index("-F") + 1] == "none" and "-L" not in argv and "-J" not in argv


def test_master_argv_jump_mode_checks_the_gateway_hop_too() -> None:
    target = SshTarget(gateway="gw", user="al", options=("UserKnownHostsFile=/u/kh",))
    argv = master_argv(target, "node01", "/run/m0", ["/k/node"], ["/k/gw%"])
    assert argv[-1] == "al@node01" and "-J" not in argv
    assert _opt(argv, "UserKnownHostsFile")[0] == "/k/node"  # ours first: ssh takes the first
    inner = shlex.split(_opt(argv, "ProxyCommand")[0])
    assert inner[0] == "ssh" and inner[-3:] == ["-W", "%h:%p", "al@gw"]
    assert _opt(inner, "UserKnownHostsFile")[0] == "/k/gw%%"
    assert _opt(inner, "StrictHostKeyChecking") == ["yes"] and "BatchMode=yes" in inner
    assert not any(a.startswith(("ControlMaster", "LocalCommand")) for a in inner)
