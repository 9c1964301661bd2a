"""Human and JSON renderings: Atlas's login URL on a terminal, never a secret in --json."""

from __future__ import annotations

import json
from pathlib import Path

from metalab._cli.render import atlas_login_url, bundle_json, service_lines


def _bundle(tmp_path: Path) -> dict[str, object]:
    token = tmp_path / "atlas.token"
    token.write_text("a/b+c=d\n")
    token.chmod(0o600)
    password = tmp_path / "postgres.password"
    password.write_text("pg-secret\n")
    return {
        "project": "p",
        "environment": "e",
        "store_locator": "postgresql://u:pw@node:5432/db",
        "services": {
            "atlas": {
                "host": "node",
                "port": 8000,
                "url": "http://node:8000",
                "secret_ref": str(token),
            },
            "postgres": {"host": "node", "port": 5432, "secret_ref": str(password)},
        },
    }


def test_terminal_lines_log_the_browser_in_and_never_show_the_password(tmp_path: Path) -> None:
    lines = service_lines(_bundle(tmp_path))
    assert lines == ["  postgres: node:5432", "  atlas: http://node:8000/?token=a%2Fb%2Bc%3Dd"]


def test_json_has_neither_token_nor_password(tmp_path: Path) -> None:
    text = json.dumps(bundle_json(_bundle(tmp_path), reused=False, show_secrets=False))
    assert "a/b+c=d" not in text and "a%2Fb" not in text and "pg-secret" not in text
    assert "secret_ref" not in text and ":pw@" not in text


def test_login_url_without_a_readable_token_is_the_plain_url(tmp_path: Path) -> None:
    assert atlas_login_url("http://h:1", {}) == "http://h:1"
    assert atlas_login_url("http://h:1", {"secret_ref": str(tmp_path / "gone")}) == "http://h:1"
    (tmp_path / "empty").write_text("\n")
    assert atlas_login_url("http://h:1/", {"secret_ref": str(tmp_path / "empty")}) == "http://h:1/"


def test_login_url_ignores_a_token_file_others_may_read_or_a_symlink(tmp_path: Path) -> None:
    token = tmp_path / "atlas.token"
    token.write_text("t0k\n")
    token.chmod(0o644)
    assert atlas_login_url("http://h:1", {"secret_ref": str(token)}) == "http://h:1"
    token.chmod(0o600)
    (tmp_path / "link").symlink_to(token)
    assert atlas_login_url("http://h:1", {"secret_ref": str(tmp_path / "link")}) == "http://h:1"
    assert atlas_login_url("http://h:1", {"secret_ref": str(token)}) == "http://h:1/?token=t0k"
