"""metalab.store.run_index: the public way a reader (Atlas) locates a store's runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from metalab.errors import StoreError
from metalab.store.run_index import IndexLocation, locate


def test_a_path_is_a_file_store_relative_to_the_base(tmp_path: Path) -> None:
    assert locate("runs", tmp_path) == IndexLocation(None, tmp_path / "runs")
    assert locate(f"file://{tmp_path}/x") == IndexLocation(None, tmp_path / "x")


def test_a_postgres_locator_keeps_its_dsn_and_file_root(tmp_path: Path) -> None:
    where = locate(f"postgresql://u@127.0.0.1:5/db?file_root={tmp_path}/files")
    assert where.dsn is not None and where.dsn.startswith("postgresql://u@127.0.0.1:5/db")
    assert where.file_root == tmp_path / "files"


@pytest.mark.parametrize("bad", ["", "   ", "s3://bucket/x", "a\x00b"])
def test_bad_locators_are_one_line_store_errors(bad: str) -> None:
    with pytest.raises(StoreError) as info:
        locate(bad)
    assert "\n" not in str(info.value)
