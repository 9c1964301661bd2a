"""bundle.json: location, 0600 from birth, atomic under concurrency, clear errors, discover."""

from __future__ import annotations

import json
import multiprocessing
import os
import stat
import threading
from pathlib import Path

import pytest

from metalab.core.bundle.discover import discover
from metalab.core.bundle.files import SCHEMA_VERSION, bundle_path, read_bundle, write_bundle
from metalab.errors import BundleError, BundleNotFound


def test_location_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METALAB_HOME", str(tmp_path / "home"))
    assert bundle_path("p", "e", "/shared/x") == Path("/shared/x/services/bundle.json")
    assert bundle_path("p", "e", None) == tmp_path / "home/services/p/e/bundle.json"


def test_mode_is_0600_from_birth_even_under_umask_0(tmp_path: Path) -> None:
    """A watcher thread records the mode of every file that appears while writing."""
    target = tmp_path / "services" / "bundle.json"
    target.parent.mkdir()
    seen: dict[str, int] = {}
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            for entry in os.scandir(target.parent):
                try:
                    seen.setdefault(entry.name, stat.S_IMODE(entry.stat().st_mode))
                except FileNotFoundError:
                    continue

    watcher = threading.Thread(target=watch)
    previous = os.umask(0)
    watcher.start()
    try:
        for i in range(200):
            write_bundle(target, {"nonce": str(i), "pad": "x" * 100_000})
    finally:
        stop.set()
        watcher.join()
        os.umask(previous)
    assert seen, "the watcher saw no file"
    assert set(seen.values()) == {0o600}, seen
    assert any(name.endswith(".tmp") for name in seen) or "bundle.json" in seen


NAMES = {"project": "p", "environment": "e"}


def _writer(path: str, ident: int, rounds: int) -> None:
    for i in range(rounds):
        write_bundle(Path(path), {**NAMES, "writer": ident, "round": i, "pad": str(ident) * 50_000})


def test_concurrent_writers_never_tear(tmp_path: Path) -> None:
    target = tmp_path / "bundle.json"
    write_bundle(target, {**NAMES, "writer": -1, "round": 0, "pad": ""})
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_writer, args=(str(target), n, 60)) for n in range(4)]
    for process in writers:
        process.start()
    reads = 0
    while any(p.is_alive() for p in writers):
        data = read_bundle(target)
        assert data is not None
        assert data["pad"] == (str(data["writer"]) * 50_000 if data["writer"] >= 0 else "")
        reads += 1
    for process in writers:
        process.join()
        assert process.exitcode == 0
    assert reads > 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "corrupt bundle"),
        ("[1]", "not a JSON object"),
        (json.dumps({"schema_version": 99}), "schema_version 99 is not supported"),
    ],
)
def test_corrupt_or_foreign_bundle_is_a_clear_error(
    tmp_path: Path, content: str, problem: str
) -> None:
    target = tmp_path / "bundle.json"
    target.write_text(content)
    target.chmod(0o600)
    with pytest.raises(BundleError, match=problem):
        read_bundle(target)


def _bundle(root: Path, project: str, env: str) -> None:
    write_bundle(
        root / "services" / "bundle.json",
        {"project": project, "environment": env, "store_locator": f"{root}/store"},
    )


def test_discover_walks_up_and_filters_project_and_env(tmp_path: Path) -> None:
    _bundle(tmp_path, "other", "local")
    inner = tmp_path / "mine"
    _bundle(inner, "mine", "local")
    nested = inner / "a" / "b"
    nested.mkdir(parents=True)
    assert discover(nested).store_locator == f"{inner}/store"
    assert discover(nested, project="other").store_locator == f"{tmp_path}/store"
    with pytest.raises(BundleNotFound, match="skipped"):
        discover(nested, project="mine", environment="slurm")
    found = discover(nested, project="mine", environment="local")
    assert found.bundle["schema_version"] == SCHEMA_VERSION


def test_discover_uses_configured_location(tmp_path: Path) -> None:
    elsewhere = tmp_path / "shared"
    _bundle(elsewhere, "p", "e")
    project = tmp_path / "project"
    project.mkdir()
    with pytest.raises(BundleNotFound):
        discover(project, "p", "e")
    configured = elsewhere / "services" / "bundle.json"
    assert discover(project, "p", "e", configured).path == configured
