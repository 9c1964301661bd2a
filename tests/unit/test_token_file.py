"""METALAB_TOKEN_FILE: a Docker secret (or any 0600 file) holds the token."""

from __future__ import annotations

from pathlib import Path

import pytest

from metalab._client.target import resolve_target
from metalab.core.token import env_token
from metalab.errors import ConfigError


def test_token_comes_from_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("abc123\n")
    monkeypatch.setenv("METALAB_TOKEN_FILE", str(token))
    monkeypatch.setenv("METALAB_SERVER", "127.0.0.1:1")
    assert resolve_target().token == "abc123"
    monkeypatch.setenv("METALAB_TOKEN", "wins")
    assert env_token() == "wins"


@pytest.mark.parametrize("content", [None, "", "two\nlines"])
def test_bad_token_file_is_one_line_naming_the_key(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, content: str | None
) -> None:
    token = tmp_path / "token"
    if content is not None:
        token.write_text(content)
    monkeypatch.setenv("METALAB_TOKEN_FILE", str(token))
    with pytest.raises(ConfigError) as info:
        env_token()
    message = str(info.value)
    assert message.startswith("METALAB_TOKEN_FILE: ") and str(token) in message
    assert "\n" not in message
