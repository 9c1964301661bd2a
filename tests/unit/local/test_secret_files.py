"""Secret files: libpq passfile escaping and 0600-from-birth atomic writes."""

from __future__ import annotations

import os
import stat

import pytest

from metalab_orchestrator.runtime.secret_files import pgpass_field, pgpass_line, write_secret


def test_pgpass_escapes_backslash_then_colon():
    assert pgpass_field("a:b") == "a\\:b"
    assert pgpass_field("a\\b") == "a\\\\b"
    assert pgpass_field("\\:") == "\\\\\\:"


def test_pgpass_line_format():
    line = pgpass_line("127.0.0.1", 5433, "db", "us:er", "p:w\\d")
    assert line == "127.0.0.1:5433:db:us\\:er:p\\:w\\\\d\n"


def test_pgpass_line_rejects_newlines():
    with pytest.raises(ValueError):
        pgpass_line("h", 1, "d", "u", "a\nb")


def test_secret_is_0600_before_it_is_renamed_into_place(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def checking_replace(src, dst):
        seen.append(stat.S_IMODE(os.stat(src).st_mode))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", checking_replace)
    old = os.umask(0)
    try:
        write_secret(tmp_path / "pw", "s3cret")
        write_secret(tmp_path / "pw", "other")  # replacing keeps the mode too
    finally:
        os.umask(old)
    assert seen == [0o600, 0o600]
    assert stat.S_IMODE(os.stat(tmp_path / "pw").st_mode) == 0o600
    assert (tmp_path / "pw").read_text() == "other"
    assert [p.name for p in tmp_path.iterdir()] == ["pw"]  # no temp file left
