"""`metalab -v/-vv`, `services logs --tail`, `services rebuild-index`: upstream's CLI surface."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metalab._cli import services as services_cli
from metalab._cli.verbosity import ScrubSecrets, scrub
from tests.helpers import run_cli
from tests.unit.cli_helpers import invoke

SECRET = "s3cr3t-Value"
CONFIG = """
[project]
name = "demo"
default_env = "dev"

[services.postgres]
database = "metalab"

[environments.dev]
type = "local"
file_root = "./runs"
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / ".metalab.toml").write_text(CONFIG)
    (tmp_path / ".metalab.local.toml").write_text(f'[services.postgres]\npassword = "{SECRET}"\n')
    return tmp_path


def test_quiet_by_default(project: Path) -> None:
    result = run_cli("env", "show", cwd=project)
    assert result.returncode == 0 and result.stderr == ""


def test_v_logs_info_to_stderr(project: Path) -> None:
    result = run_cli("-v", "env", "show", cwd=project)
    assert result.returncode == 0
    assert f"INFO metalab.config: config: {project / '.metalab.toml'} + " in result.stderr
    assert "INFO metalab.config: environment: dev (from default_env)" in result.stderr
    assert "DEBUG" not in result.stderr
    assert result.stdout.startswith("Environment: dev\n")


def test_vv_logs_debug_without_secrets(project: Path) -> None:
    result = run_cli(
        "-vv",
        "env",
        "show",
        "--set",
        f"services.postgres.password={SECRET}x",
        cwd=project,
        env={"METALAB__SERVICES__POSTGRES__USER": "alice"},
    )
    assert result.returncode == 0, result.stderr
    assert "DEBUG metalab.config: resolved dev:" in result.stderr
    assert "'password': '***'" in result.stderr
    assert "override: services.postgres.password from --set services.postgres.password" in (
        result.stderr
    )
    assert SECRET not in result.stderr + result.stdout


def test_verbosity_is_a_count_and_setup_is_replaced(project: Path) -> None:
    code, _, err = invoke(["-v", "-v", "env", "list"], project)
    assert code == 0 and "DEBUG" in err
    code, _, err = invoke(["--verbose", "env", "list"], project)
    assert code == 0 and "INFO" in err and "DEBUG" not in err
    assert err.count("environment: dev") <= 1


def test_config_errors_stay_one_line_with_v(project: Path) -> None:
    (project / ".metalab.toml").write_text(CONFIG.replace("file_root", "file_rot"))
    result = run_cli("-v", "env", "list", cwd=project)
    assert result.returncode == 2
    errors = [line for line in result.stderr.splitlines() if line.startswith("metalab: error:")]
    assert len(errors) == 1 and "did you mean 'file_root'" in errors[0]
    assert "Traceback" not in result.stderr


def test_env_list_still_imports_no_logging(project: Path) -> None:
    code = (
        "import sys\n"
        "from metalab._cli.main import main\n"
        "try:\n"
        "    main(['env', 'list'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('logging' in sys.modules, file=sys.stderr)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=project, capture_output=True, text=True, timeout=60
    )
    assert result.stderr.strip().splitlines()[-1] == "False"


secrets = st.text(st.sampled_from("abcXYZ019-_.!~"), min_size=4, max_size=20).filter(
    lambda s: s.strip("-_.!~") != ""
)


@given(secret=secrets)
def test_scrub_hides_secret_values(secret: str) -> None:
    for text in (
        f"password={secret}",
        f"PGPASSWORD={secret} psql",
        f"{{'password': '{secret}'}}",
        f'"token": "{secret}"',
        f"postgresql://alice:{secret}@db:5432/metalab",
        f"connect postgresql://u:{secret}@h/db?sslmode=require now",
        f"atlas_secret: {secret}",
    ):
        assert secret not in scrub(text), text


def test_scrub_keeps_ordinary_text() -> None:
    text = "config: /p/.metalab.toml; postgresql://alice@db:5432/metalab; partition=gpu"
    assert scrub(text) == text


def test_filter_scrubs_arguments_and_tracebacks() -> None:
    try:
        raise RuntimeError(f"failed with password={SECRET}")
    except RuntimeError:
        record = logging.LogRecord(
            "x", logging.ERROR, __file__, 1, "url %s", (f"postgres://u:{SECRET}@h/d",), None
        )
        record.exc_info = sys.exc_info()
    assert ScrubSecrets().filter(record)
    formatted = logging.Formatter().format(record)
    assert SECRET not in formatted and "url postgres://u:***@h/d" in formatted


def _capture_logs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    calls: list[tuple[Any, ...]] = []

    async def fake(environment: Any, service: str, lines: int, follow: bool) -> None:
        calls.append((environment.name, service, lines, follow))

    monkeypatch.setattr(services_cli, "_logs", fake)
    return calls


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        ([], 50),
        (["--tail", "7"], 7),
        (["-n", "3"], 3),
        (["--lines", "9"], 9),
        (["--tail", "0"], -1),
    ],
)
def test_logs_tail_is_an_alias_of_n(
    project: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], lines: int
) -> None:
    calls = _capture_logs(monkeypatch)
    code, _, err = invoke(["services", "logs", "postgres", *args], project)
    assert code == 0, err
    assert calls == [("dev", "postgres", lines, False)]


def test_logs_negative_tail_is_a_usage_error(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _capture_logs(monkeypatch)
    code, _, err = invoke(["services", "logs", "--tail", "-2"], project)
    assert code == 2 and calls == [] and "--tail" in err


def test_rebuild_index_is_store_reindex_for_the_environment(project: Path) -> None:
    upstream = run_cli("services", "rebuild-index", "--env", "dev", cwd=project)
    ours = run_cli("store", "reindex", "--env", "dev", cwd=project)
    assert (upstream.returncode, upstream.stderr) == (ours.returncode, ours.stderr)
    assert upstream.returncode != 0 and upstream.stderr.startswith("metalab: error:")
    helped = run_cli("services", "rebuild-index", "--help", cwd=project)
    assert helped.returncode == 0 and "store reindex" in helped.stdout


def test_verbosity_is_forwarded_to_a_remote_workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text("workspaces: [{id: c, path: /r, ssh: {host: cluster}}]\n")
    monkeypatch.setenv("METALAB_SETTINGS", str(settings))
    calls: list[list[str]] = []

    def call(argv: list[str]) -> int:
        calls.append(argv)
        return 0

    monkeypatch.setattr(subprocess, "call", call)
    code, _, _ = invoke(["-vv", "--workspace", "c", "env", "list"], tmp_path)
    assert code == 0 and len(calls) == 1
    assert calls[0][-1].rstrip().endswith("-vv env list")
    invoke(["--workspace", "c", "env", "list"], tmp_path)
    assert " -v" not in calls[1][-1]
