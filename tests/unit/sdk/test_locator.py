from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metalab._runstore import FileStoreConfig, PostgresStoreConfig, parse_locator, resolve_store
from metalab.core.redact import redact_locator
from metalab.errors import StoreError

BASE = Path("/base")


def test_none_is_a_filestore_under_experiments(work_dir):
    config = resolve_store(None)
    assert config == FileStoreConfig(str(work_dir / "experiments"))


@pytest.mark.parametrize(
    "text,root",
    [
        ("runs/", "/base/runs"),
        ("/abs/x", "/abs/x"),
        ("file:///abs/y", "/abs/y"),
        ("file://localhost/abs/z", "/abs/z"),
        ("a b/'c", "/base/a b/'c"),
    ],
)
def test_paths_are_filestores(text, root):
    assert parse_locator(text, BASE) == FileStoreConfig(root)


def test_path_objects_and_configs_pass_through():
    assert resolve_store(Path("/x"), BASE) == FileStoreConfig("/x")
    config = PostgresStoreConfig("postgresql://h/db", "/r")
    assert resolve_store(config) is config


def test_postgres_locator_splits_file_root_and_keeps_libpq_params():
    config = parse_locator(
        "postgresql://u:pw@db.example:5433/metalab?file_root=/shared/exp"
        "&passfile=/home/u/.pgpass&sslmode=require",
        BASE,
    )
    assert isinstance(config, PostgresStoreConfig)
    assert config.file_root == "/shared/exp"
    assert config.dsn == (
        "postgresql://u:pw@db.example:5433/metalab?passfile=%2Fhome%2Fu%2F.pgpass&sslmode=require"
    )
    assert "pw" not in config.describe() and "pw" not in repr(config)
    assert "u:***@db.example:5433" in config.describe()


def test_relative_file_root_resolves_against_the_base():
    config = parse_locator("postgres://h/db?file_root=exp", BASE)
    assert isinstance(config, PostgresStoreConfig) and config.file_root == "/base/exp"


def test_redaction_covers_userinfo_and_query_passwords():
    assert redact_locator("postgresql://u:secret@h/db") == "postgresql://u:***@h/db"
    assert "secret" not in redact_locator("postgresql://h/db?password=secret&x=1")
    assert redact_locator("/plain/path") == "/plain/path"


@pytest.mark.parametrize(
    "text,match",
    [
        ("", "empty"),
        ("   ", "empty"),
        ("mysql://h/db", "unsupported store scheme 'mysql'"),
        ("postgresql://h:notaport/db", "invalid PostgreSQL locator"),
        ("postgresql:///db", "names no host"),
        ("postgresql://h/db?file_root=", "empty file_root"),
        ("postgresql://h/db?file_root=/a&file_root=/b", "more than one"),
        ("file://otherhost/x", "only local paths"),
        ("a\x00b", "NUL"),
    ],
)
def test_bad_locators_are_one_line_store_errors(text, match):
    with pytest.raises(StoreError, match=match) as info:
        parse_locator(text, BASE)
    assert "\n" not in str(info.value)


def test_password_never_in_error_messages():
    with pytest.raises(StoreError) as info:
        parse_locator("postgresql://u:hunter2@h:bad/db", BASE)
    assert "hunter2" not in str(info.value)


@pytest.mark.parametrize("value", [42, 3.5, object(), ["x"]])
def test_wrong_types_are_store_errors(value):
    with pytest.raises(StoreError):
        resolve_store(value)


def test_discover_without_a_bundle_is_a_store_error():
    with pytest.raises(StoreError, match="discover"):
        resolve_store("discover")


def test_discover_reads_the_nearest_bundle(work_dir):
    from metalab.core.bundle.files import write_bundle

    write_bundle(
        work_dir / "services" / "bundle.json",
        {
            "project": "p",
            "environment": "local",
            "store_locator": "postgresql://u:pw@h:5/db?file_root=/fr",
        },
    )
    sub = work_dir / "a" / "b"
    sub.mkdir(parents=True)
    config = resolve_store("discover", sub)
    assert config == PostgresStoreConfig("postgresql://u:pw@h:5/db", "/fr")


@settings(max_examples=400, deadline=None)
@given(st.text())
def test_any_string_parses_or_raises_store_error(text):
    try:
        config = parse_locator(text, BASE)
    except StoreError as exc:
        assert "\n" not in str(exc)
    else:
        assert config.describe()


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(["postgresql://", "postgres://", "file://", "PostgreSQL://", "x://"]), st.text()
)
def test_any_url_tail_parses_or_raises_store_error(prefix, tail):
    try:
        config = parse_locator(prefix + tail, BASE)
    except StoreError:
        pass
    else:
        assert config.describe()
