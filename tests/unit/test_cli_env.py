"""`metalab env list|show`: the seed's layout, --json, --origin, redaction, exit codes."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.cli_helpers import _to_toml, invoke
from tests.unit.config_examples import UPSTREAM_HEAD

SEED = (
    UPSTREAM_HEAD
    + """partition = "cpu2019"
time = "1-00:00:00"
memory = "1G"
file_root = "/shared/experiments"
"""
)


@pytest.fixture
def seed_project(tmp_path: Path) -> Path:
    (tmp_path / ".metalab.toml").write_text(SEED)
    return tmp_path


def test_env_list_matches_seed(seed_project: Path) -> None:
    code, out, _ = invoke(["env", "list"], seed_project)
    assert code == 0
    assert out == (
        "  local                local\n"
        "  slurm                slurm *\n"
        "\n"
        "  * = default (set via [project] default_env)\n"
    )


def test_env_show_matches_seed(seed_project: Path) -> None:
    code, out, _ = invoke(["env", "show", "slurm"], seed_project)
    assert code == 0
    assert out == (
        "Environment: slurm\n"
        "  Type: slurm\n"
        "  File root: /shared/experiments\n"
        "  Config:\n"
        "    gateway: hpc.university.edu\n"
        "    user: researcher\n"
        "    partition: cpu2019\n"
        "    time: 1-00:00:00\n"
        "    memory: 1G\n"
        "  Services:\n"
        "    postgres: {'auth_method': 'scram-sha-256', 'database': 'metalab'}\n"
        "    atlas: {'port': 8000}\n"
    )


def test_env_show_redacts_secrets_unless_asked(seed_project: Path) -> None:
    (seed_project / ".metalab.local.toml").write_text(
        '[services.postgres]\npassword = "my-secret-password"\n'
    )
    for args in (["env", "show", "slurm"], ["env", "show", "slurm", "--json"]):
        code, out, _ = invoke(args, seed_project)
        assert code == 0 and "my-secret-password" not in out and "***" in out
    _, shown, _ = invoke(["env", "show", "slurm", "--show-secrets"], seed_project)
    assert "my-secret-password" in shown


def test_env_show_origin_and_json(seed_project: Path) -> None:
    (seed_project / ".metalab.local.toml").write_text('[environments.slurm]\nuser = "jsmith"\n')
    code, out, _ = invoke(["env", "show", "slurm", "--origin", "--set", "memory=2G"], seed_project)
    assert code == 0
    assert "    user: jsmith  [local]\n" in out
    assert "    memory: 2G  [flag]\n" in out
    assert "    gateway: hpc.university.edu  [profile]\n" in out
    code, out, _ = invoke(["env", "show", "slurm", "--json", "--origin"], seed_project)
    data = json.loads(out)
    assert data["config"]["user"] == "jsmith" and data["origins"]["user"] == "local"


def test_env_list_json(seed_project: Path) -> None:
    code, out, _ = invoke(["env", "list", "--json"], seed_project)
    assert code == 0
    data = json.loads(out)
    assert {"name": "slurm", "type": "slurm", "default": True} in data["environments"]


def test_config_error_is_one_line_exit_2(seed_project: Path) -> None:
    (seed_project / ".metalab.toml").write_text(SEED.replace("gateway", "gatewya"))
    code, out, err = invoke(["env", "list"], seed_project)
    assert code == 2 and out == ""
    assert err.count("\n") == 1
    assert "environments.slurm.gatewya: unknown key (did you mean 'gateway'?)" in err
    assert "Traceback" not in err


def test_unknown_env_is_exit_2(seed_project: Path) -> None:
    code, _, err = invoke(["env", "show", "nope"], seed_project)
    assert code == 2 and "no environment named 'nope'" in err


toml_keys = st.sampled_from(
    [
        "project",
        "services",
        "environments",
        "type",
        "name",
        "default_env",
        "postgres",
        "atlas",
        "port",
        "file_root",
        "local",
        "slurm",
        "x",
        "time",
        "cpus",
    ]
)
toml_scalars = st.one_of(
    st.integers(-5, 70000), st.text(max_size=8), st.booleans(), st.floats(allow_nan=False)
)
documents = st.recursive(
    st.dictionaries(toml_keys, toml_scalars, max_size=4),
    lambda children: st.dictionaries(toml_keys, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=documents, garbage=st.booleans(), raw=st.text(max_size=40))
def test_random_documents_never_traceback(doc: dict[str, object], garbage: bool, raw: str) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory)
        text = raw if garbage else _to_toml(doc)
        (path / ".metalab.toml").write_text(text)
        for args in (["env", "list"], ["env", "show"]):
            code, _, err = invoke(args, path)
            assert code in (0, 2), err
            assert "Traceback" not in err
            if code == 2:
                assert err.startswith("metalab: error: ") and err.count("\n") == 1
