"""The pure SSH argv builder: structure, overrides, and quoting a real shell agrees with."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metalab.errors import ConfigError
from metalab.workspace.remote import RemoteOverrides, apply_overrides, metalab_command, remote_argv
from metalab.workspace.settings import SshConfig

WEIRD = [
    "",
    " ",
    "a b",
    "'",
    '"',
    "$HOME",
    "`id`",
    "; echo pwned",
    "a\nb",
    "*",
    "\\",
    "--x=1",
    "ünï",
    "$(touch /tmp/x)",
    "-o",
    "~",
]


def test_uv_tool_run_default():
    ssh = SshConfig(host="user@cluster")
    assert remote_argv(ssh, "1.2.3", ["services", "status"]) == [
        "ssh", "user@cluster",
        "uv tool run --from metalab==1.2.3 metalab services status",
    ]  # fmt: skip


def test_all_workspace_values():
    ssh = SshConfig(
        host="c",
        shell_init="source /etc/profile; module load py",
        uv_offline=True,
        python="python3.11",
        options=("-p", "2222"),
    )
    argv = remote_argv(ssh, "0.1.0", ["orphans"])
    assert argv[:4] == ["ssh", "-p", "2222", "c"]
    assert argv[4] == (
        "source /etc/profile; module load py\n"
        "uv tool run --offline --python python3.11 --from metalab==0.1.0 metalab "
        "orphans"
    )


def test_metalab_path_bypasses_uv_and_keeps_tilde():
    ssh = SshConfig(host="c", metalab_path="~/my venv/bin/metalab", uv_offline=True)
    assert metalab_command(ssh, "1", ["x"]) == "~/'my venv/bin/metalab' x"
    ssh = SshConfig(host="c", metalab_path="/opt/metalab's/bin/metalab")
    assert shlex.split(metalab_command(ssh, "1", [])) == ["/opt/metalab's/bin/metalab"]


def test_overrides_win_and_can_switch_off():
    ssh = SshConfig(
        host="c",
        shell_init="init",
        uv_offline=True,
        python="py",
        metalab_path="/m",
        options=("-p", "1"),
    )
    out = apply_overrides(
        ssh,
        RemoteOverrides(
            shell_init="", uv_offline=False, python="", metalab_path="", extra_options=("Port=2",)
        ),
    )
    assert out == SshConfig(
        host="c",
        shell_init=None,
        uv_offline=False,
        python=None,
        metalab_path=None,
        options=("-p", "1", "-o", "Port=2"),
    )
    same = apply_overrides(ssh, RemoteOverrides())
    assert same == ssh
    on = apply_overrides(SshConfig(host="c"), RemoteOverrides(uv_offline=True, python="3.12"))
    assert "--offline --python 3.12" in remote_argv(on, "1", [])[-1]


@pytest.mark.parametrize("host", ["", "-oProxyCommand=evil", "a b", "a\nb"])
def test_bad_hosts_are_refused(host):
    with pytest.raises(ConfigError):
        remote_argv(SshConfig(host=host), "1", [])


@pytest.fixture(scope="module")
def printer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake metalab that prints its argv as JSON (path with a space and a quote)."""
    directory = tmp_path_factory.mktemp("bin") / "we'ird dir"
    directory.mkdir()
    script = directory / "metalab"
    script.write_text(f"#!{sys.executable}\nimport json, sys\nprint(json.dumps(sys.argv[1:]))\n")
    script.chmod(0o755)
    return script


def run_remote_string(argv: list[str]) -> list[str]:
    """Do what sshd does with the last argv element: hand it to a POSIX shell."""
    import json

    done = subprocess.run(["sh", "-c", argv[-1]], capture_output=True, text=True, check=True)
    argv_seen: list[str] = json.loads(done.stdout.splitlines()[-1])
    return argv_seen


def test_weird_arguments_survive_a_real_shell(printer):
    ssh = SshConfig(host="h", metalab_path=str(printer), shell_init="X=1 # trailing comment;")
    assert run_remote_string(remote_argv(ssh, "1", WEIRD)) == WEIRD


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    args=st.lists(
        st.text(
            alphabet=st.characters(codec="utf-8", blacklist_characters="\x00"),
            max_size=12,
        ),
        max_size=5,
    )
)
def test_any_arguments_survive_a_real_shell(printer, args):
    ssh = SshConfig(host="h", metalab_path=str(printer))
    assert run_remote_string(remote_argv(ssh, "1", args)) == args
