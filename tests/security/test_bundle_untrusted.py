"""A bundle is untrusted input: planted, loosened, foreign or misshapen bundles are refused in
one line, and `down` still stops everything the services directory records.

Real CLI processes, real files, a real second account, real Atlas (and PostgreSQL where marked).
"""

from __future__ import annotations

import json
import os
import pwd
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc
import pytest

from metalab.core.bundle.files import write_bundle
from metalab.v1 import registry_pb2, registry_pb2_grpc, types_pb2
from metalab_server.server import start_server
from tests.security.bundle_helpers import PG_ATLAS, bundle_file, make_project
from tests.security.owner_helpers import cli, handle, spawn
from tests.security.processes import start_time_of


def plant(path: Path, project: str, services: dict[str, dict[str, object]]) -> None:
    write_bundle(
        path,
        {
            "project": project,
            "environment": "local",
            "profile": "local",
            "state": "ready",
            "nonce": "1" * 16,
            "store_locator": str(path.parent.parent),
            "services": services,
        },
    )


def atlas_lookalike(victims: list[subprocess.Popen[bytes]]) -> dict[str, object]:
    """A process of ours that passes every ownership check (it claims to be Atlas): only the
    bundle checks stand between a planted record and a SIGTERM to it."""
    pid = spawn([sys.executable, "-c", "import time; time.sleep(300)", "metalab_atlas"], victims)
    return handle(pid, start_time_of(pid))


def one_line_refusal(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for word in words:
        assert word in lines[0], lines[0]


def pid_gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in "ZX":
            return True
        time.sleep(0.05)
    return False


def up(project: Path, *extra: str) -> dict[str, object]:
    env = {"METALAB__SERVICES__POSTGRES__RUN_AS": "metalab"} if os.geteuid() == 0 else {}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "metalab"), "services", "up", "--json", *extra],
        cwd=project,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def service_pids(project: Path) -> dict[str, int]:
    data = json.loads(bundle_file(project).read_text())
    return {name: int(h["pid"]) for name, h in data["services"].items()}


# -- planted and loosened files ---------------------------------------------------------------


def test_symlinked_bundle_to_another_project_is_refused(
    open_tmp: Path, victims: list[subprocess.Popen[bytes]]
) -> None:
    mine, theirs = make_project(open_tmp, "mine"), make_project(open_tmp, "theirs")
    plant(bundle_file(theirs), "theirs", {"atlas": atlas_lookalike(victims)})
    bundle_file(mine).parent.mkdir(parents=True, mode=0o700)
    bundle_file(mine).symlink_to(bundle_file(theirs))
    for command in ("status", "down"):
        one_line_refusal(cli(mine, "services", command), "symbolic link")
    assert victims[0].poll() is None
    assert bundle_file(theirs).exists()


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_bundle_readable_or_writable_by_others_is_refused(
    open_tmp: Path, victims: list[subprocess.Popen[bytes]], mode: int
) -> None:
    project = make_project(open_tmp)
    plant(bundle_file(project), "mine", {"atlas": atlas_lookalike(victims)})
    bundle_file(project).chmod(mode)
    one_line_refusal(cli(project, "services", "down"), f"mode {mode:04o}", "0600")
    assert victims[0].poll() is None


def test_bundle_owned_by_another_account_is_refused(
    open_tmp: Path, intruder: str, victims: list[subprocess.Popen[bytes]]
) -> None:
    project = make_project(open_tmp)
    plant(bundle_file(project), "mine", {"atlas": atlas_lookalike(victims)})
    os.chown(bundle_file(project), pwd.getpwnam(intruder).pw_uid, -1)
    one_line_refusal(cli(project, "services", "down"), "belongs to uid")
    assert victims[0].poll() is None


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o1777])
def test_services_dir_writable_by_others_is_refused(
    open_tmp: Path, intruder: str, victims: list[subprocess.Popen[bytes]], mode: int
) -> None:
    """Another account plants a bundle naming my process in a shared services directory:
    neither `up` nor `down` "cleans it up"."""
    project = make_project(open_tmp)
    services = bundle_file(project).parent
    services.mkdir(parents=True)
    services.chmod(mode)
    plant(bundle_file(project), "mine", {"atlas": atlas_lookalike(victims)})
    os.chown(bundle_file(project), pwd.getpwnam(intruder).pw_uid, -1)
    for command in ("up", "down", "status"):
        one_line_refusal(cli(project, "services", command), "writable by others")
    assert victims[0].poll() is None


def test_services_dir_of_another_account_is_refused(
    open_tmp: Path, intruder: str, victims: list[subprocess.Popen[bytes]]
) -> None:
    project = make_project(open_tmp)
    plant(bundle_file(project), "mine", {"atlas": atlas_lookalike(victims)})
    os.chown(bundle_file(project).parent, pwd.getpwnam(intruder).pw_uid, -1)
    one_line_refusal(cli(project, "services", "down"), "belongs to uid")
    assert victims[0].poll() is None


def test_bundle_of_another_project_or_environment_is_refused(
    open_tmp: Path, victims: list[subprocess.Popen[bytes]]
) -> None:
    project = make_project(open_tmp)
    plant(bundle_file(project), "someone-else", {"atlas": atlas_lookalike(victims)})
    for command in ("status", "down", "up"):
        one_line_refusal(cli(project, "services", command), "someone-else/local", "mine/local")
    assert victims[0].poll() is None


# -- misshapen content --------------------------------------------------------------------------

MISSHAPEN = {
    "services as a list": json.dumps({"schema_version": 1, "services": []}),
    "pid abc": json.dumps(
        {"schema_version": 1, "services": {"atlas": {"pid": "abc", "start_time": 1}}}
    ),
    "NaN port": '{"schema_version": 1, "services": {"atlas": {"port": NaN}}}',
    "Infinity": '{"schema_version": 1, "project": "mine", "x": Infinity}',
    "boolean pid": json.dumps({"schema_version": 1, "services": {"atlas": {"pid": True}}}),
    "port out of range": json.dumps({"schema_version": 1, "services": {"atlas": {"port": 1e9}}}),
    "huge pid": json.dumps({"schema_version": 1, "services": {"atlas": {"pid": 2**40}}}),
    "name with a slash": json.dumps({"schema_version": 1, "services": {"../x": {}}}),
    "truncated": '{"schema_version": 1, "project": "mine", "servi',
    "deeply nested": '{"schema_version": 1, "x": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "not UTF-8": b'{"schema_version": 1, "project": "\xff"}'.decode("latin-1"),
    "schema_version a string": json.dumps({"schema_version": "1"}),
    "a list": "[1, 2]",
    "empty": "",
}


@pytest.mark.parametrize("content", MISSHAPEN.values(), ids=MISSHAPEN.keys())
def test_misshapen_bundle_is_one_line_and_down_still_works(open_tmp: Path, content: str) -> None:
    project = make_project(open_tmp)
    path = bundle_file(project)
    path.parent.mkdir(parents=True, mode=0o700)
    path.touch(mode=0o600)
    path.write_bytes(content.encode("latin-1"))
    one_line_refusal(cli(project, "services", "status"), str(path))
    down = cli(project, "services", "down")
    assert down.returncode == 0, down.stderr
    assert "Traceback" not in down.stderr
    assert not path.exists()


def test_truncated_or_deleted_bundle_never_orphans_atlas(open_tmp: Path) -> None:
    project = make_project(open_tmp)
    for damage in ("truncate", "delete"):
        up(project)
        atlas = service_pids(project)["atlas"]
        if damage == "truncate":
            raw = bundle_file(project).read_bytes()
            bundle_file(project).write_bytes(raw[: len(raw) // 2])
        else:
            bundle_file(project).unlink()
        down = cli(project, "services", "down")
        assert down.returncode == 0, down.stderr
        assert pid_gone(atlas), f"Atlas {atlas} orphaned after a {damage}d bundle"


@pytest.mark.postgres
def test_corrupt_bundle_never_orphans_postgres_or_atlas(open_tmp: Path) -> None:
    project = make_project(open_tmp, template=PG_ATLAS)
    up(project)
    pids = service_pids(project)
    bundle_file(project).write_text('{"schema_version": 1, "services": []}')
    assert cli(project, "services", "down").returncode == 0
    assert all(pid_gone(pid) for pid in pids.values()), pids
    up(project)  # and the environment starts again cleanly
    pids = service_pids(project)
    bundle_file(project).unlink()
    up(project)  # `up` without the bundle stops the unrecorded pair before starting anew
    assert all(pid_gone(pid) for pid in pids.values()), pids
    assert cli(project, "services", "down").returncode == 0


# -- names that become path components ----------------------------------------------------------

BAD_NAMES = ["../../x", "a/b", "..", ".hidden", "x\\y", "tab\there", "a" * 101]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_unsafe_project_or_environment_name_is_one_line(open_tmp: Path, name: str) -> None:
    home = open_tmp / "home"
    env = {**os.environ, "METALAB_HOME": str(home)}
    for text in (
        f"[project]\nname = {json.dumps(name)}\n[services.atlas]\n"
        '[environments.local]\ntype = "local"\n',
        f'[project]\nname = "fine"\n[services.atlas]\n[environments.{json.dumps(name)}]\n'
        'type = "local"\n',
    ):
        project = open_tmp / "p"
        project.mkdir(exist_ok=True)
        (project / ".metalab.toml").write_text(text)
        flag = [] if "fine" not in text else ["--env", name]
        result = subprocess.run(
            [str(Path(sys.executable).parent / "metalab"), "services", "up", *flag],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            start_new_session=True,
        )
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert not (open_tmp / "x").exists()
        assert not list(open_tmp.glob("**/bundle.json"))


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("project", "environment", "services", "why"),
    [
        ("../../x", "e", {}, "'../../x' is not a safe name"),
        ("p", "a/b", {}, "'a/b' is not a safe name"),
        ("p", "e", {"atlas": types_pb2.ServiceHandle(log_path="x\0y")}, "NUL"),
    ],
)
async def test_put_bundle_validates_before_writing(
    tmp_path: Path,
    project: str,
    environment: str,
    services: dict[str, types_pb2.ServiceHandle],
    why: str,
) -> None:
    running = await start_server(["registry"], f"unix:{tmp_path}/registry.sock")
    try:
        async with grpc.aio.insecure_channel(running.address) as channel:
            stub = registry_pb2_grpc.RegistryStub(channel)
            bundle = types_pb2.Bundle(
                project=project, environment=environment, file_root=str(tmp_path / "root")
            )
            for name, value in services.items():
                bundle.services[name].CopyFrom(value)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.PutBundle(registry_pb2.PutBundleRequest(bundle=bundle), timeout=10)
    finally:
        await running.stop(0)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert why in (refused.value.details() or "")
    assert not (tmp_path / "root").exists()


def test_sigterm_is_never_sent_to_the_cli_itself(
    open_tmp: Path, victims: list[subprocess.Popen[bytes]]
) -> None:
    """pid 0 / pgid 0 used to make `down` SIGTERM its own process group."""
    project = make_project(open_tmp)
    plant(bundle_file(project), "mine", {"atlas": {"pid": 0, "pgid": 0, "start_time": 0}})
    result = cli(project, "services", "down")
    assert result.returncode == 0, result.stderr
    assert result.returncode != -signal.SIGTERM


@pytest.mark.root(reason="the rule is about root")
def test_root_discovers_another_accounts_private_bundle_but_acts_on_none(
    open_tmp: Path, intruder: str, victims: list[subprocess.Popen[bytes]]
) -> None:
    """Root (a compose stack's operator) may read the store locator of a bundle the stack's
    account wrote in its own private directory; nothing that acts on a bundle accepts it."""
    project = make_project(open_tmp)
    plant(bundle_file(project), "mine", {"atlas": atlas_lookalike(victims)})
    uid = pwd.getpwnam(intruder).pw_uid
    for path in (bundle_file(project), bundle_file(project).parent):
        os.chown(path, uid, -1)
    found = cli(project, "discover")
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip() == str(project / "runs")
    for command in ("down", "status", "up"):
        one_line_refusal(cli(project, "services", command), "belongs to uid")
    assert victims[0].poll() is None
    # …and only from a directory nobody else may write, the file owned by the directory's owner
    bundle_file(project).parent.chmod(0o777)
    assert cli(project, "discover").returncode != 0
