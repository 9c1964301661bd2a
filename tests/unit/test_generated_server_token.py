"""The token `metalab server` generates for loopback TCP: written 0600, found by the owner's CLI,
and refused when the file or its directory could have been planted."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from metalab._client.target import resolve_target
from metalab._client.token_file import read_token, runtime_dir, token_path, write_token
from metalab.errors import ConfigError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("METALAB_HOME", str(tmp_path / "m"))
    for name in ("METALAB_TOKEN", "METALAB_TOKEN_FILE", "METALAB_SERVER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("METALAB_SETTINGS", str(tmp_path / "none.yaml"))
    return tmp_path / "m"


def test_written_0600_in_a_0700_directory_and_found_by_the_cli(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_token("127.0.0.1:5000", "tok-1")
    assert path == home / "run" / "server-127.0.0.1-5000.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert read_token("127.0.0.1:5000") == "tok-1"
    assert read_token("localhost:5000") == "tok-1"  # localhost is 127.0.0.1
    assert read_token("127.0.0.1:5001") is None
    monkeypatch.setenv("METALAB_SERVER", "localhost:5000")
    assert resolve_target().token == "tok-1"
    monkeypatch.setenv("METALAB_TOKEN", "configured")
    assert resolve_target().token == "configured"  # a configured token wins


def test_planted_token_files_are_refused(home: Path, tmp_path: Path) -> None:
    runtime_dir(create=True)
    path = token_path("127.0.0.1:6000")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_text("x\n")
    elsewhere.chmod(0o600)
    path.symlink_to(elsewhere)
    with pytest.raises(ConfigError, match="refusing token file"):
        read_token("127.0.0.1:6000")
    path.unlink()
    path.write_text("x\n")
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="not a 0600 file"):
        read_token("127.0.0.1:6000")
    path.chmod(0o600)
    path.write_text("a\nb\n")
    with pytest.raises(ConfigError, match="not one line"):
        read_token("127.0.0.1:6000")


def test_a_runtime_directory_open_to_others_is_refused(home: Path) -> None:
    (home / "run").mkdir(parents=True, mode=0o700)
    os.chmod(home / "run", 0o755)
    with pytest.raises(ConfigError, match="mode 0700"):
        write_token("127.0.0.1:7000", "t")
