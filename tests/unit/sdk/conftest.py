import pytest


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch, tmp_path):
    """No METALAB_* leaks in; config caches go to a private place; cwd is a scratch dir."""
    import os

    for name in list(os.environ):
        if name.startswith("METALAB") and name not in ("METALAB_CI", "METALAB_UPDATE_GOLDEN"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no user settings file
    monkeypatch.setenv("METALAB_HOME", str(tmp_path / "metalab-home"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work
