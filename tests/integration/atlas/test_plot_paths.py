"""Plot data from `run_values` (the PostgreSQL fast path) agrees with the file index, on
awkward values: mixed types, JSON null, missing keys, non-finite strings (the fallback)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from metalab._runstore.base import RunRecord, Store
from metalab._runstore.file import FileStore
from metalab._runstore.locator import parse_locator
from metalab._runstore.postgres import PostgresStore
from metalab_atlas import pgplot
from metalab_atlas.pgpool import POOL_SIZE
from metalab_atlas.pgsource import PostgresSource
from metalab_atlas.query import parse_query
from metalab_atlas.source import FileSource, VersionedCache
from tests.integration.atlas.dataset import populate_locator
from tests.integration.atlas.rounding import rounded
from tests.support.postgres import PostgresServer

XS: list[Any] = [2, 2.5, "a", True, None, "missing"]
GROUPS: list[Any] = ["u", 3, None, "missing"]
ODD: list[Any] = [1, "NaN", "Infinity", 4]


def _records() -> list[RunRecord]:
    out = []
    for i in range(48):
        params = {"x": XS[i % len(XS)], "g": GROUPS[i % len(GROUPS)], "odd": ODD[i % len(ODD)]}
        params = {k: v for k, v in params.items() if v != "missing"}
        y: Any = "NaN" if i % 11 == 5 else float(i % 7) / 3
        out.append(
            RunRecord("awkward", f"{i:020x}", params, i, "completed", metrics={"y": y, "z": i})
        )
    return out


def _populate(store: Store) -> None:
    records = _records()
    store.put_experiment({"experiment_id": "awkward", "name": "awkward"}, len(records))
    for record in records:
        store.begin_run(record)
    store.write_runs(records)


@pytest.fixture(scope="module")
def sources(
    pg_server: PostgresServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FileSource, PostgresSource]]:
    root = tmp_path_factory.mktemp("plots")
    _populate(FileStore(root / "runs"))
    locator = f"{pg_server.dsn(pg_server.create_database())}&file_root={root / 'files'}"
    populate_locator(locator, _populate)
    files, postgres = FileSource(root / "runs"), PostgresSource(locator)
    files.index.refresh()
    try:
        yield files, postgres
    finally:
        postgres.close()


@pytest.mark.parametrize(
    ("x", "y", "group"),
    [
        ("params.x", "metrics.y", "params.g"),  # run_values, typed cells
        ("params.x", "metrics.z", ""),
        ("params.g", "metrics.y", "params.x"),
        ("params.odd", "metrics.y", "params.g"),  # "NaN"/"Infinity" as x: the general query
        ("params.x", "metrics.y", "params.odd"),  # ... and as the group
    ],
)
def test_plot_paths_agree(
    sources: tuple[FileSource, PostgresSource], x: str, y: str, group: str
) -> None:
    answers = []
    for source in sources:
        fields = source.fields("awkward")
        answers.append(
            source.plot(
                "awkward",
                parse_query(fields, where=[]),
                fields.resolve(x),
                fields.resolve(y),
                fields.resolve(group) if group else None,
            )
        )
    assert answers[0], (x, y, group)
    assert rounded(answers[0]) == rounded(answers[1]), (x, y, group)


def _plot(source: FileSource | PostgresSource, x: str, y: str, group: str) -> Any:
    fields = source.fields("awkward")
    return source.plot(
        "awkward",
        parse_query(fields, where=[]),
        fields.resolve(x),
        fields.resolve(y),
        fields.resolve(group) if group else None,
    )


@pytest.mark.parametrize("point", [0, 1, 17, 47, 48])
def test_plot_in_two_halves_agrees(
    sources: tuple[FileSource, PostgresSource], monkeypatch: pytest.MonkeyPatch, point: int
) -> None:
    """The two halves of run ids (one per connection) add up to the whole, wherever the
    split falls: before the first run, inside, on the last, after it."""
    files, postgres = sources
    monkeypatch.setattr(pgplot, "split_point", lambda *_: f"{point:020x}")
    for x, y, group in [("params.x", "metrics.y", "params.g"), ("params.g", "metrics.z", "")]:
        postgres.cache = VersionedCache()
        assert rounded(_plot(postgres, x, y, group)) == rounded(_plot(files, x, y, group))


def test_concurrent_plots_share_the_pool(
    sources: tuple[FileSource, PostgresSource], monkeypatch: pytest.MonkeyPatch
) -> None:
    """More concurrent plots than the pool has connections: each takes spare connections
    only when free, so all finish with the same answer."""
    files, postgres = sources
    monkeypatch.setattr(pgplot, "split_point", lambda *_: f"{20:020x}")
    expected = rounded(_plot(files, "params.x", "metrics.y", "params.g"))

    def plot(_: int) -> Any:
        fields = postgres.fields("awkward")
        query = parse_query(fields, where=[])
        x, y, g = (fields.resolve(n) for n in ("params.x", "metrics.y", "params.g"))
        return rounded(postgres._plot("awkward", query, x, y, g))

    with ThreadPoolExecutor(max_workers=4 * POOL_SIZE) as pool:
        answers = list(pool.map(plot, range(16 * POOL_SIZE)))
    assert all(answer == expected for answer in answers)


def test_split_from_the_histogram(pg_server: PostgresServer, tmp_path: Path) -> None:
    """Once PostgreSQL has analyzed `run_values`, a plot splits at a run id inside the
    experiment's range, and the halves add up to what one statement computes."""
    records = [
        RunRecord(
            "many", f"{i * 7919 % 1000:020x}", {"x": i % 3}, i, "completed", metrics={"y": i / 7}
        )
        for i in range(1000)
    ]

    def fill(store: Store) -> None:
        store.put_experiment({"experiment_id": "many", "name": "many"}, len(records))
        store.write_runs(records)

    locator = f"{pg_server.dsn(pg_server.create_database())}&file_root={tmp_path}"
    store = parse_locator(populate_locator(locator, fill)).open()
    assert isinstance(store, PostgresStore)
    try:
        store.conn.execute("ANALYZE run_values")
    finally:
        store.close()
    postgres = PostgresSource(locator)
    try:
        fields = postgres.fields("many")
        x, y = fields.resolve("params.x"), fields.resolve("metrics.y")
        probe = pgplot.split_probe("many", y)
        point = pgplot.split_point(*postgres._all(probe.text, probe.args)[0])
        assert point is not None and f"{0:020x}" < point <= f"{999:020x}"
        halves = postgres._values_plot("many", x, y, None)
        one = pgplot.values_plot("many", x, y, None)
        whole = pgplot.merge_cells([postgres._all(one.text, one.args, pgplot.SETTINGS)])
        assert len(halves) == len(whole) == 3
        for half, one_cell in zip(sorted(halves), sorted(whole), strict=True):
            assert half[:2] == one_cell[:2] and half[2:] == pytest.approx(one_cell[2:])
    finally:
        postgres.close()
