"""One redaction module, one secret list: every display masks the same names."""

from __future__ import annotations

from pathlib import Path

from metalab._placement import describe_env
from metalab._runstore.locator import has_password
from metalab.core.bundle.files import write_bundle
from metalab.core.redact import REDACTED, SECRET_WORDS, is_secret, redact, redact_locator
from metalab_atlas.bundleview import bundle_view


def test_each_secret_word_masks_a_key_an_env_name_and_a_query_parameter() -> None:
    for word in SECRET_WORDS:
        assert redact({word: "v", f"ssl{word}": "v"}) == {word: REDACTED, f"ssl{word}": REDACTED}
        assert describe_env({f"MY_{word.upper()}": "v"}) == f"MY_{word.upper()}={REDACTED}"
        assert "=v" not in redact_locator(f"postgresql://h/db?{word}=v&x=1")
    assert not is_secret("partition") and not is_secret("file_root")


def test_nested_documents_and_locators_inside_them() -> None:
    document = {"store": "postgresql://u:pw@h/db", "services": [{"password": "pw", "port": 5}]}
    shown = redact(document)
    assert shown == {
        "store": "postgresql://u:***@h/db",
        "services": [{"password": "***", "port": 5}],
    }
    assert redact(document, show_secrets=True) is document


def test_locators() -> None:
    assert redact_locator("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    no_host = redact_locator("postgresql:///db?sslpassword=pw")
    assert no_host.endswith("/db?sslpassword=***") and "pw" not in no_host
    assert redact_locator("/plain/path?password=x") == "/plain/path?password=x"
    assert redact_locator("file:///runs") == "file:///runs"
    assert redact_locator("postgresql://[::1") == "<unparseable locator>"
    assert has_password("postgresql://h/db?sslpassword=pw") and not has_password(
        "postgresql://h/db"
    )


def test_atlas_services_page_masks_with_the_same_list(tmp_path: Path) -> None:
    path = tmp_path / "services" / "bundle.json"
    bundle = {
        "project": "p",
        "environment": "e",
        "store_locator": "postgresql://u:pw@h/db?sslpassword=pw",
        "services": {"postgres": {"passfile": "/x/pgpass", "port": 5432}},
    }
    write_bundle(path, bundle)
    shown = bundle_view(path)["bundle"]
    assert shown["services"]["postgres"] == {"passfile": REDACTED, "port": 5432}
    assert "pw" not in shown["store_locator"]


def test_a_credential_file_path_stays_usable_except_where_others_read() -> None:
    locator = "postgresql://metalab@h:5432/metalab?passfile=/home/u/.pgpass"
    assert redact_locator(locator) == locator  # what `discover` prints: a client connects with it
    assert "/home/u/.pgpass" not in redact_locator(locator, files=True)
    assert redact({"passfile": "/p"}) == {"passfile": "/p"}
    assert redact({"passfile": "/p"}, files=True) == {"passfile": REDACTED}
