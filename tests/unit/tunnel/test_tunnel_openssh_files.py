"""Which config and known_hosts files the OpenSSH data path hands to ssh: asyncssh's, no others."""

from __future__ import annotations

from pathlib import Path

import pytest

from metalab.core.ssh_options import SshTarget, gateway_connect_kwargs
from metalab_tunnel.hostkeys import known_hosts_files
from metalab_tunnel.openssh import same_config


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    return tmp_path


def test_config_is_home_ssh_config_or_none(home: Path) -> None:
    assert same_config(SshTarget(gateway="gw")).config_files == ()
    (home / ".ssh" / "config").write_text("Host gw\n  HostName 10.0.0.1\n")
    assert same_config(SshTarget(gateway="gw")).config_files == (str(home / ".ssh/config"),)
    explicit = SshTarget(gateway="gw", config_files=("/etc/other",))
    assert same_config(explicit).config_files == ("/etc/other",)


def test_known_hosts_default_option_and_config(home: Path) -> None:
    target = SshTarget(gateway="gw", config_files=())
    assert known_hosts_files(gateway_connect_kwargs(target)) == [home / ".ssh/known_hosts"]
    option = SshTarget(gateway="gw", config_files=(), options=("UserKnownHostsFile=/k/a",))
    assert known_hosts_files(gateway_connect_kwargs(option)) == [Path("/k/a")]
    config = home / "cfg"
    config.write_text("Host gw\n  UserKnownHostsFile ~/kh1\n")
    configured = SshTarget(gateway="gw", config_files=(str(config),))
    assert known_hosts_files(gateway_connect_kwargs(configured)) == [home / "kh1"]
