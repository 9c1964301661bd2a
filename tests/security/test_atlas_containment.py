"""Atlas serves nothing outside a run and answers hostile queries with 400, quickly.

A real Atlas process over a real FileStore (and a real PostgreSQL where marked); the planted
files are real symlinks to a real secret.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from metalab._runstore.file import FileStore
from metalab_atlas import pgpool
from metalab_atlas.query import MAX_FILTERS, MAX_QUERY_STRING
from metalab_atlas.runfiles import RunFiles
from tests.integration.atlas.dataset import populate, populate_locator, run_id
from tests.integration.atlas.server import running_atlas
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.timeout(120)
SECRET = "TOPSECRET-postgres-password"
RUN = f"/api/experiments/sweep/runs/{run_id(0)}"


@pytest.fixture
def planted(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A FileStore whose runs another user has tampered with, and the secret they target."""
    root = tmp_path / "store"
    populate(FileStore(root))
    secret = tmp_path / "services" / "run" / "postgres.password"
    secret.parent.mkdir(parents=True)
    secret.write_text(SECRET + "\n")
    yield root, secret


@pytest.fixture
def atlas(planted: tuple[Path, Path], tmp_path: Path) -> Iterator[httpx.Client]:
    with (
        running_atlas(str(planted[0]), tmp_path / "atlas.log") as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        yield client


def run_dir(root: Path, index: int = 0) -> Path:
    return root / "sweep" / "runs" / run_id(index)


def leaks(response: httpx.Response) -> bool:
    return SECRET.encode() in response.content or b"root:" in response.content


def test_log_symlinked_out_of_the_run_is_not_served(
    planted: tuple[Path, Path], atlas: httpx.Client
) -> None:
    root, secret = planted
    stdout = run_dir(root) / "logs" / "stdout.txt"
    stdout.unlink()
    stdout.symlink_to(os.path.relpath(secret, stdout.parent))  # ../../../../services/run/…
    (run_dir(root) / "logs" / "stderr.txt").symlink_to("/etc/shadow")
    for stream in ("stdout", "stderr"):
        response = atlas.get(f"{RUN}/logs/{stream}")
        assert not leaks(response)
        assert response.headers.get("X-Log-Size") == "0"
    detail = atlas.get(RUN).json()
    assert detail["log_sizes"] == {"stdout": 0, "stderr": 0}


def test_artifacts_dir_that_is_a_symlink_is_refused(
    planted: tuple[Path, Path], atlas: httpx.Client
) -> None:
    root, secret = planted
    artifacts = run_dir(root) / "artifacts"
    shutil.rmtree(artifacts)
    artifacts.symlink_to(secret.parent)  # the services run directory
    assert atlas.get(RUN).json()["artifacts"] == []
    response = atlas.get(f"{RUN}/artifacts/postgres.password")
    assert response.status_code == 404 and not leaks(response)


def test_artifact_symlinks_leaving_the_run_are_neither_listed_nor_served(
    planted: tuple[Path, Path], atlas: httpx.Client
) -> None:
    root, secret = planted
    artifacts = run_dir(root) / "artifacts"
    (artifacts / "escape.txt").symlink_to(secret)
    (artifacts / "shadow").symlink_to("/etc/shadow")
    (artifacts / "outdir").symlink_to(secret.parent, target_is_directory=True)
    (artifacts / "alias.txt").symlink_to("notes.txt")  # stays inside: fine
    listed = {a["path"]: a["size"] for a in atlas.get(RUN).json()["artifacts"]}
    assert "escape.txt" not in listed and "shadow" not in listed
    assert not any(p.startswith("outdir") for p in listed)
    assert listed["alias.txt"] == len("hello artifact")
    for path in ("escape.txt", "shadow", "outdir/postgres.password"):
        response = atlas.get(f"{RUN}/artifacts/{path}")
        assert response.status_code == 404, path
        assert not leaks(response)
    assert atlas.get(f"{RUN}/artifacts/alias.txt").text == "hello artifact"


def test_run_dir_or_run_json_symlinked_elsewhere_is_not_read(
    planted: tuple[Path, Path], tmp_path: Path
) -> None:
    root, secret = planted
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "logs").mkdir(parents=True)
    (elsewhere / "logs" / "stdout.txt").symlink_to(secret)
    (elsewhere / "logs" / "stderr.txt").write_text(SECRET)
    target = run_dir(root, 1)
    shutil.rmtree(target)
    target.symlink_to(elsewhere, target_is_directory=True)
    files = RunFiles(root)
    assert files.log("sweep", run_id(1), "stderr") == ("", 0)
    assert files.log("sweep", run_id(1), "stdout") == ("", 0)
    record = run_dir(root, 2) / "run.json"
    record.unlink()
    record.symlink_to(secret)
    assert files.record("sweep", run_id(2)) is None


def test_a_file_swapped_for_a_symlink_after_the_check_is_not_followed(
    planted: tuple[Path, Path],
) -> None:
    """The descriptor is opened component by component with O_NOFOLLOW: a directory of the
    path replaced by a symlink between the check and the open fails closed."""
    root, secret = planted
    files = RunFiles(root)
    sub = run_dir(root) / "artifacts" / "sub"
    fd = files.open_artifact("sweep", run_id(0), "sub/config.json")
    os.close(fd)
    shutil.rmtree(sub)
    sub.symlink_to(secret.parent, target_is_directory=True)
    (secret.parent / "config.json").write_text(SECRET)
    from metalab_atlas.runfiles import open_inside

    with pytest.raises(Exception, match="no such file"):
        os.close(open_inside(str(run_dir(root).resolve()), "artifacts/sub/config.json"))


# -- bounded queries -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ({"where": ["seed:gt:0"] * (MAX_FILTERS + 1)}, f"at most {MAX_FILTERS} where="),
        ({"offset": str(10**20)}, "offset"),
        ({"offset": "1e20"}, "offset"),
        ({"limit": "-1"}, "limit"),
        ({"where": "params.lr:eq:\x00"}, "NUL"),
        ({"q": "a\x00b"}, "NUL"),
        ({"sort": "x" * 5000}, "longer than"),
    ],
    ids=[
        "too many filters",
        "huge offset",
        "float offset",
        "bad limit",
        "NUL where",
        "NUL q",
        "long sort",
    ],
)
def test_bad_values_answer_400_with_the_reason(
    atlas: httpx.Client, query: dict[str, object], reason: str
) -> None:
    response = atlas.get("/api/experiments/sweep/runs", params=query)  # type: ignore[arg-type]
    assert response.status_code == 400, response.text
    assert reason in response.json()["error"]


def test_query_string_is_capped(atlas: httpx.Client) -> None:
    response = atlas.get(f"/api/experiments/sweep/runs?q={'a' * (MAX_QUERY_STRING + 1)}")
    assert response.status_code == 414


@pytest.fixture
def pg_locator(pg_server: PostgresServer, tmp_path: Path) -> str:  # noqa: F811
    files = tmp_path / "files"
    return populate_locator(f"{pg_server.dsn(pg_server.create_database())}&file_root={files}")


@pytest.mark.postgres
def test_postgres_store_answers_400_not_503(pg_locator: str, tmp_path: Path) -> None:
    with (
        running_atlas(pg_locator, tmp_path / "atlas.log") as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        for query in (
            {"where": "params.lr:eq:\x00"},
            {"q": "\x00"},
            {"offset": str(10**20)},
            {"where": ["params.lr:gt:0"] * 150},
        ):
            started = time.monotonic()
            response = client.get("/api/experiments/sweep/runs", params=query)
            assert response.status_code == 400, (query, response.text)
            assert time.monotonic() - started < 1.0
        healthy = client.get(
            "/api/experiments/sweep/runs", params={"where": ["seed:gt:-1"] * MAX_FILTERS}
        )
        assert healthy.status_code == 200


@pytest.mark.postgres
def test_every_atlas_connection_has_a_statement_timeout(
    pg_server: PostgresServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dsn = pg_server.dsn(pg_server.create_database())
    pool = pgpool.Pool(dsn)
    with pool.connection() as conn:
        row = conn.execute("SHOW statement_timeout").fetchone()
        assert row is not None and row[0] == pgpool.STATEMENT_TIMEOUT
    pool.close()
    monkeypatch.setattr(pgpool, "STATEMENT_TIMEOUT", "200ms")
    pool = pgpool.Pool(dsn)
    started = time.monotonic()
    with pool.connection() as conn, pytest.raises(psycopg.errors.QueryCanceled):
        conn.execute("SELECT pg_sleep(5)")
    assert time.monotonic() - started < 2.0
    pool.close()


def test_services_page_does_not_follow_a_symlinked_bundle(
    planted: tuple[Path, Path], tmp_path: Path
) -> None:
    root, secret = planted
    secret.write_text('{"schema_version": 1, "password": "x", "note": "' + SECRET + '"}')
    bundle = tmp_path / "services" / "bundle.json"
    bundle.symlink_to(secret)
    with (
        running_atlas(str(root), tmp_path / "atlas.log", bundle=bundle) as server,
        httpx.Client(base_url=server.url, timeout=10) as client,
    ):
        response = client.get("/api/services")
    assert response.json()["found"] is False
    assert not leaks(response)
