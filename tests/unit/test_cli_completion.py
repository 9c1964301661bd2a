"""Shell completion: the scripts, command names, and --env names from the project's config."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.helpers import METALAB, run_cli


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script_for_each_shell(tmp_path: Path, shell: str) -> None:
    result = run_cli("completion", shell, cwd=tmp_path)
    assert result.returncode == 0 and "_METALAB_COMPLETE" in result.stdout


def test_unknown_shell_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("completion", "tcsh", cwd=tmp_path)
    assert result.returncode == 2 and "tcsh" in result.stderr


def _complete(words: str, cwd: Path) -> list[str]:
    env = {
        **os.environ,
        "COMP_WORDS": words,
        "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
        "_METALAB_COMPLETE": "bash_complete",
    }
    done = subprocess.run([METALAB], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
    return [line.split(",", 1)[1] for line in done.stdout.splitlines() if line]


def test_commands_and_environment_names_complete(tmp_path: Path) -> None:
    (tmp_path / ".metalab.toml").write_text(
        '[project]\nname = "p"\n[environments.local]\ntype = "local"\n'
        '[environments.slurm]\ntype = "slurm"\npartition = "x"\n'
    )
    (tmp_path / ".metalab.local.toml").write_text('[environments.laptop]\ntype = "local"\n')
    nested = tmp_path / "sub"
    nested.mkdir()
    assert _complete("metalab ser", nested) == ["server", "services"]
    assert _complete("metalab services up --env ", nested) == ["laptop", "local", "slurm"]
    assert _complete("metalab tunnel --env s", nested) == ["slurm"]


def test_environment_completion_survives_a_broken_config(tmp_path: Path) -> None:
    (tmp_path / ".metalab.toml").write_text("[project\n")
    assert _complete("metalab services status --env ", tmp_path) == []
