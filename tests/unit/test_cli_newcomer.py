"""A newcomer's first mistakes get one clear line: a typo, `services` outside a project."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from metalab._cli.main import COMMANDS, main
from tests.helpers import run_cli

README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with no `.metalab.toml` in it or any parent."""
    cwd = tmp_path / "nowhere"
    cwd.mkdir()
    assert not [p for p in (cwd, *cwd.parents) if (p / ".metalab.toml").is_file()]
    monkeypatch.chdir(cwd)
    return cwd


@pytest.mark.parametrize(
    "args",
    [["up"], ["up", "--json"], ["status"], ["status", "--json"], ["down"], ["logs"]],
)
def test_services_outside_a_project_refuse_with_one_line(
    outside: Path, args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["services", *args])
    out, err = capsys.readouterr()
    assert exited.value.code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert f"no .metalab.toml found in {outside} or any parent directory" in err
    assert "create .metalab.toml" in err
    assert not Path(os.environ["METALAB_HOME"]).exists()  # no bundle, no services dir


def test_services_up_outside_a_project_as_a_user_runs_it(outside: Path) -> None:
    done = run_cli("services", "up", cwd=outside)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr.startswith("metalab: error: no .metalab.toml found in ")
    assert "Services started" not in done.stderr
    assert not Path(os.environ["METALAB_HOME"]).exists()


def test_env_list_still_works_without_a_project(outside: Path) -> None:
    assert main(["env", "list"]) is None


@pytest.mark.parametrize(
    ("typo", "suggested"),
    [("servics", "services"), ("setings", "settings"), ("monitr", "monitor"), ("run", "runs")],
)
def test_top_level_typo_suggests_the_command(
    typo: str, suggested: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main([typo])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert f"No such command '{typo}'." in err
    assert f"Did you mean {suggested!r}?" in err or f"one of: {suggested}" in err


def test_unknown_command_far_from_any_gets_no_suggestion(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["xyzzy"])
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "No such command 'xyzzy'." in err and "Did you mean" not in err


def test_readme_shows_every_command_group_and_how_to_reach_metalab() -> None:
    text = README.read_text()
    assert [name for name in COMMANDS if f"metalab {name}" not in text] == []
    assert "source .venv/bin/activate" in text and ".venv/bin:$PATH" in text
