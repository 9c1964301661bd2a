"""Atlas on a store reached over SSH/SFTP (``ssh://HOST/path``), against a real sshd
(tests/support/sshd.py) and a real Atlas process: the host comes from ``~/.ssh/config`` (its
HostName, Port, User, IdentityFile and UserKnownHostsFile), or the key from a real ssh-agent;
host keys are checked strictly and never added; what the remote tree holds beyond the store's
own files (symlinks out, ``services/``, dot-files) is not copied; changes on the remote show up
without a restart."""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.integration.atlas.dataset import populate_locator, records
from tests.integration.atlas.server import Atlas, running_atlas
from tests.support.components import require
from tests.support.sshd import SshServer, sshd_missing

pytestmark = [pytest.mark.timeout(180)]
FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "upstream_layout"
WAIT = 30.0


@dataclass
class Remote:
    server: SshServer
    root: Path  # the store on the "remote" host
    home: Path  # HOME of the Atlas processes: .ssh/config names the hosts
    cache: Path


def _config(server: SshServer, alias: str, known_hosts: Path, key: bool = True) -> str:
    lines = [
        f"Host {alias}",
        "  HostName 127.0.0.1",
        f"  Port {server.port}",
        f"  User {server.user}",
        f"  UserKnownHostsFile {known_hosts}",
        "  GlobalKnownHostsFile /dev/null",
    ]
    if key:
        lines += [f"  IdentityFile {server.client_key_path}", "  IdentitiesOnly yes"]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Remote]:
    require(sshd_missing())
    scratch = tmp_path_factory.mktemp("ssh-store")
    root = scratch / "remote" / "runs"
    populate_locator(str(root))
    shutil.copytree(FIXTURE / "sweep_0.1", root / "sweep_0.1")
    populate_locator(str(root / "lab"))
    (root / "services").mkdir()
    (root / "services" / "atlas.token").write_text("not for the cache")
    (root / ".hidden").write_text("dot-file")
    outside = scratch / "remote" / "outside.txt"
    outside.write_text("outside the store")
    first = records()[0].run_id
    artifacts = root / "sweep" / "runs" / first / "artifacts"
    (artifacts / "leak.txt").symlink_to(outside)
    (root / "sweep" / "runs" / first / "linked-dir").symlink_to(scratch / "remote")
    home = scratch / "home"
    (home / ".ssh").mkdir(parents=True)
    with SshServer(scratch / "sshd") as server:
        empty = scratch / "empty_known_hosts"
        empty.write_text("")
        config = _config(server, "atlas-remote", server.known_hosts_path)
        config += _config(server, "atlas-unknown", empty)
        config += _config(server, "atlas-agent", server.known_hosts_path, key=False)
        wrong = scratch / "wrong_key"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(wrong)], check=True
        )
        config += _config(server, "atlas-wrong-key", server.known_hosts_path).replace(
            str(server.client_key_path), str(wrong)
        )
        (home / ".ssh" / "config").write_text(config)
        yield Remote(server, root, home, scratch / "cache")


def _env(remote: Remote, **more: str | None) -> dict[str, str | None]:
    return {"HOME": str(remote.home), "SSH_AUTH_SOCK": None, "XDG_CACHE_HOME": None, **more}


def _atlas_argv(store: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "metalab_atlas", "--store", store, "--port", "1", *extra]


def _until(check: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if callable(check) and check():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {WAIT} s: {what}")


@pytest.fixture(scope="module")
def atlas(remote: Remote, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Atlas]:
    logs = tmp_path_factory.mktemp("ssh-atlas")
    extra = (
        "--refresh-interval",
        "0.2",
        "--sync-interval",
        "0.3",
        "--cache-dir",
        str(remote.cache),
    )
    store = f"ssh://atlas-remote/{remote.root}"
    with running_atlas(store, logs / "atlas.log", extra=extra, env_overrides=_env(remote)) as a:
        yield a


def test_a_remote_store_is_served_from_its_cache(remote: Remote, atlas: Atlas) -> None:
    with httpx.Client(base_url=atlas.url, timeout=30) as client:
        health = client.get("/api/health").json()
        assert health["store_kind"] == "ssh" and health["store_readable"] is True
        assert health["store"] == f"ssh://atlas-remote/{remote.root}"
        stores = client.get("/api/stores").json()["stores"]
        assert [(s["key"], s["runs"]) for s in stores] == [
            ("", len(records()) + 4),
            ("lab", len(records())),
        ]
        ids = sorted(
            e["experiment_id"] for e in client.get("/api/experiments").json()["experiments"]
        )
        assert ids == ["lab::other", "lab::sweep", "other", "sweep", "sweep_0.1"]
        listed = client.get("/api/experiments/sweep/runs", params={"limit": 500}).json()
        assert listed["total"] == len(records())
        first = records()[0].run_id
        run = client.get(f"/api/experiments/sweep/runs/{first}").json()
        names = sorted(a["path"] for a in run["artifacts"])
        assert "notes.txt" in names and "leak.txt" not in names
        notes = client.get(f"/api/experiments/sweep/runs/{first}/artifacts/notes.txt")
        assert notes.text == "hello artifact"
        leak = client.get(f"/api/experiments/sweep/runs/{first}/artifacts/leak.txt")
        assert leak.status_code == 404
        upstream = client.get("/api/experiments/sweep:0.1").json()
        assert upstream["experiment_id"] == "sweep_0.1" and upstream["runs"] == 4
        steps = client.get("/api/experiments/sweep_0.1/curves").json()
        assert steps["metric"] == "loss" and len(steps["runs"]) == 3

    # the cache: private, the store's own files only
    assert stat.S_IMODE(remote.cache.stat().st_mode) == 0o700
    cached = {str(p.relative_to(remote.cache)) for p in remote.cache.rglob("*")}
    assert not any(p.startswith("services") or "/." in f"/{p}" for p in cached), cached
    assert not any(p.endswith(("leak.txt", "linked-dir")) for p in cached)
    assert not any(os.path.islink(remote.cache / p) for p in cached)


def test_changes_on_the_remote_show_up_without_a_restart(remote: Remote, atlas: Atlas) -> None:
    def ids() -> list[str]:
        body = httpx.get(f"{atlas.url}/api/experiments", timeout=30).json()
        return sorted(e["experiment_id"] for e in body["experiments"])

    from metalab._runstore.locator import parse_locator

    store = parse_locator(str(remote.root)).open()
    try:
        store.put_experiment(
            {"experiment_id": "late", "name": "late", "operation": "pkg.x:y", "params": {}}, 0
        )
    finally:
        store.close()
    _until(lambda: "late" in ids(), "a new remote experiment listed")
    shutil.rmtree(remote.root / "late")
    _until(lambda: "late" not in ids(), "a removed remote experiment gone")


def test_an_unknown_host_key_is_refused_and_not_recorded(remote: Remote, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK", "XDG_CACHE_HOME")}
    env["HOME"] = str(remote.home)
    argv = _atlas_argv(f"ssh://atlas-unknown/{remote.root}", "--cache-dir", str(tmp_path / "c"))
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("atlas: error")]
    assert len(lines) == 1 and "host key not verifiable" in lines[0], done.stderr
    assert "Traceback" not in done.stderr
    known = remote.home.parent / "empty_known_hosts"
    assert known.read_text() == ""  # never accepted, never written
    assert not (remote.home / ".ssh" / "known_hosts").exists()
    assert not (tmp_path / "c").exists() or not any((tmp_path / "c").iterdir())


def test_a_key_from_a_real_ssh_agent(remote: Remote, tmp_path: Path) -> None:
    if shutil.which("ssh-agent") is None or shutil.which("ssh-add") is None:
        pytest.skip("ssh-agent/ssh-add missing")
    sock = tmp_path / "agent.sock"
    agent = subprocess.run(
        ["ssh-agent", "-s", "-a", str(sock)], capture_output=True, text=True, check=True
    )
    pid = int(agent.stdout.split("SSH_AGENT_PID=")[1].split(";")[0])
    try:
        env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(
            ["ssh-add", str(remote.server.client_key_path)],
            env=env,
            check=True,
            capture_output=True,
        )
        extra = ("--cache-dir", str(tmp_path / "cache"), "--sync-interval", "5")
        overrides = _env(remote, SSH_AUTH_SOCK=str(sock))
        store = f"ssh://atlas-agent/{remote.root}"
        with running_atlas(
            store, tmp_path / "atlas.log", extra=extra, env_overrides=overrides
        ) as a:
            body = httpx.get(f"{a.url}/api/experiments/sweep", timeout=30).json()
            assert body["runs"] == len(records())
    finally:
        os.kill(pid, signal.SIGTERM)


def test_bad_locators_and_denied_keys_are_one_line(remote: Remote, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("SSH_AUTH_SOCK",)}
    env["HOME"] = str(remote.home)
    user = getpass.getuser()
    key = str(remote.server.client_key_path)
    cases = [
        (f"ssh://{user}@127.0.0.1:{remote.server.port}{remote.root}", ("--ssh-key", key),
         "host key not verifiable"),  # the default ~/.ssh/known_hosts has no entry for it
        (f"ssh://atlas-wrong-key/{remote.root}", (), "permission denied"),
        (f"ssh://atlas-remote/{remote.root}/missing", (), "No such file"),
        ("ssh://", (), "expected ssh://[user@]host[:port]/path"),
    ]  # fmt: skip
    for store, extra, said in cases:
        argv = _atlas_argv(store, "--cache-dir", str(tmp_path / "c"), *extra)
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 2, (store, done.stderr)
        assert said in done.stderr and "Traceback" not in done.stderr, (store, done.stderr)
        assert len(done.stderr.strip().splitlines()) <= 2, done.stderr


def test_the_mirror_copies_changes_and_prunes_what_is_gone(remote: Remote, tmp_path: Path) -> None:
    """One `Mirror` in this process against the real sshd: a rewrite with the same size in
    the same second (what SFTP's whole-second mtimes cannot tell apart) is copied once more
    after `SETTLE_SECONDS`; files and then-empty directories gone on the remote go."""
    import asyncio

    from metalab_atlas.remote import SETTLE_SECONDS, Mirror, parse_remote

    base = tmp_path / "tree"
    (base / "exp" / "runs" / "r1").mkdir(parents=True)
    record = base / "exp" / "runs" / "r1" / "run.json"
    record.write_text('{"status": "running"}')
    os.utime(record, (1_700_000_000, 1_700_000_000))
    located = parse_remote(f"ssh://atlas-remote/{base}")
    assert located is not None
    old_home = os.environ.get("HOME")
    os.environ["HOME"] = str(remote.home)
    mirror = Mirror(located, tmp_path / "cache")
    cached = tmp_path / "cache" / "exp" / "runs" / "r1" / "run.json"

    async def passes() -> list[str]:
        try:
            return await steps()
        finally:
            mirror.close()

    async def steps() -> list[str]:
        seen = []
        await mirror.sync()
        seen.append(cached.read_text())
        record.write_text('{"status": "success"}')  # same size, same second
        os.utime(record, (1_700_000_000, 1_700_000_000))
        await mirror.sync()  # too soon to tell
        seen.append(cached.read_text())
        await asyncio.sleep(SETTLE_SECONDS)
        await mirror.sync()  # copied once more
        seen.append(cached.read_text())
        assert await mirror.sync() == 0  # settled: nothing more to copy
        shutil.rmtree(base / "exp" / "runs" / "r1")
        assert await mirror.sync() == 1
        return seen

    try:
        seen = asyncio.run(passes())
    finally:
        if old_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old_home
    assert seen == ['{"status": "running"}', '{"status": "running"}', '{"status": "success"}']
    assert not (tmp_path / "cache" / "exp").exists()  # empty directories pruned
