"""PostgreSQL settings validation, handle serialisation and locator building."""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from metalab.errors import ConfigError
from metalab_orchestrator.runtime.pg_handle import PostgresHandle, PostgresSettings, build_locator


def handle(**overrides: object) -> PostgresHandle:
    values: dict[str, object] = dict(
        host="127.0.0.1",
        port=5433,
        pid=10,
        start_time=99,
        data_dir=Path("/d"),
        socket_dir=Path("/r"),
        password_file=Path("/r/postgres.password"),
        passfile=Path("/r/postgres.pgpass"),
        log_path=Path("/r/postgres.log"),
        database="metalab",
        user="metalab",
    )
    values.update(overrides)
    return PostgresHandle(**values)  # type: ignore[arg-type]


def test_locator_has_no_password_and_encodes_paths():
    loc = build_locator(
        user="me",
        host="127.0.0.1",
        port=5433,
        database="db",
        passfile=Path("/tmp/a b&c=d/pgpass"),
        file_root="/runs/x?y#z",
    )
    parts = urlsplit(loc)
    assert parts.scheme == "postgresql"
    assert parts.username == "me" and parts.password is None
    assert parts.hostname == "127.0.0.1" and parts.port == 5433
    assert parts.path == "/db"
    query = parse_qs(parts.query)
    assert query == {"passfile": ["/tmp/a b&c=d/pgpass"], "file_root": ["/runs/x?y#z"]}
    assert " " not in loc and "#" not in loc


def test_locator_without_file_root():
    assert handle().locator() == (
        "postgresql://metalab@127.0.0.1:5433/metalab?passfile=%2Fr%2Fpostgres.pgpass"
    )


def test_handle_round_trips_through_json():
    h = handle()
    assert PostgresHandle.from_dict(json.loads(json.dumps(h.to_dict()))) == h


def test_handle_from_dict_rejects_wrong_types():
    data = handle().to_dict()
    data["port"] = "5433"
    with pytest.raises(TypeError, match="port"):
        PostgresHandle.from_dict(data)


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"auth_method": "ident"}, "services.postgres.auth_method"),
        ({"user": "all"}, "services.postgres.user"),
        ({"database": "a b"}, "services.postgres.database"),
        ({"port": 70000}, "services.postgres.port"),
        ({"password": "a\nb"}, "services.postgres.password"),
        ({"start_timeout": 0}, "services.postgres.start_timeout"),
    ],
)
def test_settings_reject_bad_values(kwargs, key):
    with pytest.raises(ConfigError) as info:
        PostgresSettings(**kwargs)
    assert info.value.key == key


def test_settings_repr_hides_password():
    assert "hunter2" not in repr(PostgresSettings(password="hunter2"))
