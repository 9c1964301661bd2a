"""``store="discover"``: the running services' PostgreSQL, found by the project's discovery."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from metalab._runstore import locator as runstore_locator
from metalab._runstore.file import FileStoreConfig as DiscoveredFiles
from metalab._runstore.pgconfig import PostgresStoreConfig as DiscoveredPostgres
from metalab.errors import StoreError
from metalab.store import FileStoreConfig, PostgresStoreConfig, parse_to_config

DSN = "postgresql://metalab@db.example:5433/metalab?passfile=/home/u/.metalab/pgpass"


def test_discover_gives_postgres_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    found = DiscoveredPostgres(dsn=DSN, file_root=str(tmp_path / "files"))
    monkeypatch.setattr(runstore_locator, "discover_store", lambda: found)
    config = parse_to_config("discover", experiment_id="exp:1")
    assert isinstance(config, PostgresStoreConfig)
    assert config.connection_string == DSN
    assert (config.file_root, config.experiment_id) == (str(tmp_path / "files"), "exp:1")


def test_discover_of_a_file_store(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(runstore_locator, "discover_store", lambda: DiscoveredFiles(str(tmp_path)))
    config = parse_to_config(" Discover ")
    assert isinstance(config, FileStoreConfig) and config.root == str(tmp_path)


def test_discover_without_services_is_a_value_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing() -> None:
        raise StoreError("store='discover': no service bundle")

    monkeypatch.setattr(runstore_locator, "discover_store", missing)
    with pytest.raises(ValueError, match="no service bundle"):
        parse_to_config("discover")


def test_locator_keeps_libpq_params_and_hides_password(tmp_path: Path) -> None:
    config = parse_to_config(
        f"postgresql://u:pw@h/db?sslmode=require&file_root={tmp_path}&schema=s&experiment_id=e:1"
    )
    assert isinstance(config, PostgresStoreConfig)
    assert config.connection_string == "postgresql://u:pw@h/db?sslmode=require"
    assert (config.schema, config.experiment_id) == ("s", "e:1")
    assert "pw" not in repr(config)
    with pytest.raises(ValueError, match="file_root"):
        parse_to_config("postgresql://h/db")


def test_file_stores_do_not_import_psycopg(tmp_path: Path) -> None:
    code = (
        "import sys, metalab.store as s; s.create_store(sys.argv[1]);"
        "s.ConfigRegistry.schemes(); assert 'psycopg' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
