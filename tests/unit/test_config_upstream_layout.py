"""Upstream's profile layout (`[environments.X.services]`, `[environments.X.executor]`) and the
seed's flat profile resolve to the same environment; upstream's documented fields are accepted,
undocumented keys are errors naming file and key."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metalab._config.layout import SERVICE_JOB_KEYS, SHARED_SLURM_KEYS, split
from metalab._config.resolve import Environment, load_project, resolve_environment
from metalab.core.schema import (
    LocalExecutor,
    SlurmEnvironment,
    SlurmExecutor,
    SlurmServicesTable,
    _SlurmExecutorOnly,
    _SlurmServicesJob,
)
from metalab.errors import ConfigError
from tests.helpers import run_cli
from tests.unit.cli_helpers import _to_toml, invoke
from tests.unit.config_examples import FLAT, UPSTREAM, UPSTREAM_LOCAL, write


def resolve(directory: Path, name: str | None = None, *overrides: str) -> Environment:
    return resolve_environment(load_project(directory), name, overrides, environ={})


def test_upstream_example_resolves(tmp_path: Path) -> None:
    env = resolve(write(tmp_path, UPSTREAM))
    assert env.settings == {
        "gateway": "hpc.university.edu",
        "user": "researcher",
        "partition": "cpu2019",
        "time": "7-00:00:00",
        "memory": "10G",
    }
    assert env.executor == {
        "partition": "gpu",
        "time": "1:00:00",
        "memory": "32G",
        "gpus": 1,
        "modules": ["cuda/12.0"],
        "conda_env": "ml-env",
        "max_concurrent": 200,
    }
    assert env.services == {
        "postgres": {"auth_method": "scram-sha-256", "database": "metalab"},
        "atlas": {"port": 8000},
    }
    assert env.file_root == "/shared/experiments"


def test_upstream_local_override(tmp_path: Path) -> None:
    env = resolve(write(tmp_path, UPSTREAM, UPSTREAM_LOCAL))
    assert env.settings["user"] == "jsmith"
    assert env.settings["partition"] == "my-lab-partition"
    assert env.settings["time"] == "7-00:00:00"
    assert env.executor["setup"] == ["source ~/my_setup.sh"]
    assert env.executor["partition"] == "gpu"
    assert env.executor["extra_sbatch"] == {
        "mail_user": "jsmith@university.edu",
        "mail_type": "end,fail",
    }
    assert "mail_user" not in env.executor
    assert env.origins["partition"] == "local"
    assert env.sources["partition"] == "services.partition"
    assert env.source("partition") == "local: environments.slurm.services.partition"
    assert env.source("executor.partition") == "profile"
    assert env.source("gateway") == "profile"


def test_orchestrator_accepts_the_resolved_document(tmp_path: Path) -> None:
    from metalab._cli.context import to_spec
    from metalab_orchestrator.spec import parse_spec

    env = resolve(write(tmp_path, UPSTREAM, UPSTREAM_LOCAL))
    spec = parse_spec(to_spec(env))
    assert isinstance(spec.environment, SlurmEnvironment)
    assert spec.environment.partition == "my-lab-partition"
    assert spec.environment.memory == "10G"
    assert spec.postgres is not None and spec.postgres.database == "metalab"
    assert "executor" not in json.loads(to_spec(env).resolved_json)


NESTED = """
[project]
default_env = "slurm"

[environments.slurm]
type = "slurm"
gateway = "hpc.university.edu"

[environments.slurm.services]
partition = "cpu2019"
time = "7-00:00:00"
memory = "10G"

[environments.slurm.executor]
partition = "cpu2019"
time = "7-00:00:00"
memory = "10G"
"""


def _same(a: Environment, b: Environment) -> None:
    assert (a.type, a.file_root, a.settings, a.services, a.executor) == (
        b.type,
        b.file_root,
        b.settings,
        b.services,
        b.executor,
    )


def test_flat_and_nested_layouts_are_the_same_environment(tmp_path: Path) -> None:
    (tmp_path / "flat").mkdir()
    (tmp_path / "nested").mkdir()
    flat = resolve(write(tmp_path / "flat", FLAT))
    nested = resolve(write(tmp_path / "nested", NESTED))
    _same(flat, nested)
    assert flat.executor == {"partition": "cpu2019", "time": "7-00:00:00", "memory": "10G"}


def test_both_layouts_list_and_show_through_the_real_cli(tmp_path: Path) -> None:
    outputs = []
    for name, text in (("flat", FLAT), ("nested", NESTED)):
        (tmp_path / name).mkdir()
        write(tmp_path / name, text)
        listed = run_cli("env", "list", cwd=tmp_path / name)
        assert listed.returncode == 0, listed.stderr
        assert "  slurm                slurm *\n" in listed.stdout
        shown = run_cli("env", "show", "--json", cwd=tmp_path / name)
        assert shown.returncode == 0, shown.stderr
        outputs.append(json.loads(shown.stdout))
    assert outputs[0] == outputs[1]


def test_show_origin_names_the_subtable_key(tmp_path: Path) -> None:
    write(tmp_path, UPSTREAM, UPSTREAM_LOCAL)
    shown = run_cli("env", "show", "--origin", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert (
        "    partition: my-lab-partition  [local: environments.slurm.services.partition]\n" in out
    )
    assert "    time: 7-00:00:00  [profile: environments.slurm.services.time]\n" in out
    assert "    gateway: hpc.university.edu  [profile]\n" in out
    assert "    executor:\n" in out
    assert "      partition: gpu  [profile]\n" in out
    assert "      setup: ['source ~/my_setup.sh']  [local]\n" in out
    assert "environments.slurm.executor.mail_user" in out
    assert "my-secret-password" not in out
    plain = run_cli("env", "show", cwd=tmp_path).stdout
    assert "    executor: {'partition': 'gpu'," in plain


def test_flat_show_has_no_executor_line(tmp_path: Path) -> None:
    write(tmp_path, FLAT)
    shown = run_cli("env", "show", "--origin", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "executor" not in shown.stdout
    assert "    partition: cpu2019  [profile]\n" in shown.stdout


def test_subtables_beat_flat_keys_whichever_file(tmp_path: Path) -> None:
    local = '[environments.slurm]\npartition = "flat-local"\ntime = "2:00:00"\n'
    env = resolve(write(tmp_path, NESTED, local))
    assert env.settings["partition"] == "cpu2019"  # [services] table beats a flat key
    assert env.executor["partition"] == "cpu2019"
    flat = resolve(write(tmp_path, FLAT, local))
    assert flat.settings["partition"] == flat.executor["partition"] == "flat-local"


def test_set_flag_reaches_subtables(tmp_path: Path) -> None:
    env = resolve(
        write(tmp_path, NESTED), None, "services.memory=20G", "executor.gpus=2", "mail_type=END"
    )
    assert env.settings["memory"] == "20G"
    assert env.origins["memory"] == "flag"
    assert env.executor["gpus"] == 2
    assert env.executor["extra_sbatch"] == {"mail_type": "END"}


def test_upstream_executor_fields_and_single_strings(tmp_path: Path) -> None:
    text = NESTED + (
        'modules = "cuda/12"\nsetup = "source x"\nchunk_size = 10\nmax_array_size = 500\n'
        'mail_user = "a@b.c"\n[environments.slurm.executor.extra_sbatch]\nnodes = 1\n'
        'mail_type = "ALL"\n'
    )
    env = resolve(write(tmp_path, text))
    assert env.executor["modules"] == ["cuda/12"]
    assert env.executor["setup"] == ["source x"]
    assert env.executor["chunk_size"] == 10 and env.executor["max_array_size"] == 500
    assert env.executor["extra_sbatch"] == {"nodes": 1, "mail_type": "ALL", "mail_user": "a@b.c"}


def test_flat_profile_takes_executor_only_keys_and_strings(tmp_path: Path) -> None:
    text = FLAT + 'modules = "cuda/12"\nchunk_size = 4\nmail_user = "a@b.c"\n'
    env = resolve(write(tmp_path, text))
    assert env.settings["modules"] == ["cuda/12"]  # the services job loads it too
    assert "chunk_size" not in env.settings and "mail_user" not in env.settings
    assert env.executor["chunk_size"] == 4
    assert env.executor["modules"] == ["cuda/12"]
    assert env.executor["extra_sbatch"] == {"mail_user": "a@b.c"}


def test_local_executor_workers(tmp_path: Path) -> None:
    text = '[environments.dev]\ntype = "local"\n[environments.dev.executor]\nworkers = 4\n'
    assert resolve(write(tmp_path, text), "dev").executor == {"workers": 4}
    flat = '[environments.dev]\ntype = "local"\nworkers = 3\n'
    env = resolve(write(tmp_path, flat), "dev")
    assert env.executor == {"workers": 3} and "workers" not in env.settings


def test_per_environment_service_declarations_still_work(tmp_path: Path) -> None:
    text = NESTED + "\n[environments.slurm.services.postgres]\nport = 5002\n"
    env = resolve(write(tmp_path, text))
    assert env.services == {"postgres": {"port": 5002}}
    assert env.settings["partition"] == "cpu2019"


@pytest.mark.parametrize(
    ("base", "local", "file_name", "key", "problem"),
    [
        (
            NESTED + "\n[environments.slurm.executor.extra]\n",
            None,
            ".metalab.toml",
            "environments.slurm.executor.extra",
            "unknown key",
        ),
        (
            NESTED + "partiton = 'x'\n",
            None,
            ".metalab.toml",
            "environments.slurm.executor.partiton",
            "did you mean 'partition'",
        ),
        (
            NESTED,
            "[environments.slurm.services]\nmemroy = '1G'\n",
            ".metalab.local.toml",
            "environments.slurm.services.memroy",
            "did you mean 'memory'",
        ),
        (
            NESTED,
            "[environments.slurm.executor]\nmail_usr = 'a@b'\n",
            ".metalab.local.toml",
            "environments.slurm.executor.mail_usr",
            "did you mean 'mail_user'",
        ),
        (
            NESTED,
            "[environments.slurm.services.postgress]\nport = 1\n",
            ".metalab.local.toml",
            "environments.slurm.services.postgress",
            "did you mean 'postgres'",
        ),
        (
            NESTED + "chunk_size = 0\n",
            None,
            ".metalab.toml",
            "environments.slurm.executor.chunk_size",
            "greater than or equal to 1",
        ),
        (
            NESTED + "modules = 5\n",
            None,
            ".metalab.toml",
            "environments.slurm.executor.modules",
            "valid list",
        ),
        (
            NESTED.replace('type = "slurm"', 'type = "kubernetes"'),
            None,
            ".metalab.toml",
            "environments.slurm.type",
            "unknown environment type 'kubernetes'",
        ),
        (
            '[environments.dev]\ntype = "local"\n[environments.dev.executor]\npartition = "x"\n',
            None,
            ".metalab.toml",
            "environments.dev.executor.partition",
            "unknown key",
        ),
        (
            '[environments.dev]\ntype = "local"\n[environments.dev.services]\nmemory = "1G"\n',
            None,
            ".metalab.toml",
            "environments.dev.services.memory",
            "unknown key",
        ),
    ],
)
def test_undocumented_keys_are_errors_naming_file_and_key(
    tmp_path: Path, base: str, local: str | None, file_name: str, key: str, problem: str
) -> None:
    write(tmp_path, base, local)
    with pytest.raises(ConfigError) as caught:
        load_project(tmp_path)
    error = caught.value
    assert isinstance(error, ValueError)
    assert error.file == str(tmp_path / file_name)
    assert error.key == key
    assert problem in str(error)
    assert "\n" not in str(error)


def test_unknown_type_is_exit_2_one_line_at_the_cli(tmp_path: Path) -> None:
    write(tmp_path, NESTED.replace('type = "slurm"', 'type = "kubernetes"'))
    result = run_cli("env", "list", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "unknown environment type 'kubernetes' (expected one of: local, slurm)" in result.stderr


def test_layout_key_sets_match_the_schema() -> None:
    assert set(_SlurmServicesJob.model_fields) == SERVICE_JOB_KEYS
    assert SHARED_SLURM_KEYS <= set(SlurmExecutor.model_fields)
    executor_only = set(_SlurmExecutorOnly.model_fields)
    assert set(SlurmExecutor.model_fields) == SHARED_SLURM_KEYS | executor_only
    assert set(LocalExecutor.model_fields) == {"workers"}
    assert SERVICE_JOB_KEYS | {"postgres", "atlas"} == set(SlurmServicesTable.model_fields)


resource_values: dict[str, st.SearchStrategy[Any]] = {
    "partition": st.sampled_from(["cpu", "gpu", "long"]),
    "time": st.sampled_from(["1:00:00", "7-00:00:00"]),
    "memory": st.sampled_from(["1G", "32G"]),
    "cpus": st.integers(1, 64),
    "gpus": st.integers(0, 8),
    "modules": st.one_of(st.just("cuda/12"), st.lists(st.sampled_from(["a", "b"]), max_size=2)),
    "setup": st.one_of(st.just("source x"), st.lists(st.just("echo hi"), max_size=2)),
    "conda_env": st.sampled_from(["ml", "base"]),
}
resources = st.fixed_dictionaries({}, optional=resource_values)
identity = st.fixed_dictionaries(
    {}, optional={"gateway": st.just("hpc"), "user": st.just("me"), "account": st.just("lab")}
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(common=resources, identity=identity, check_schema=st.booleans())
def test_any_flat_profile_equals_its_nested_spelling(
    common: dict[str, Any], identity: dict[str, Any], check_schema: bool
) -> None:
    """The flat keys serve both consumers, so nesting them in both tables changes nothing."""
    flat_profile = {**identity, **common}
    nested_profile: dict[str, Any] = {**identity}
    if common:
        nested_profile["services"] = dict(common)
        nested_profile["executor"] = dict(common)
    origins = {k: "profile" for k in flat_profile}
    flat = split(flat_profile, "slurm", origins)
    nested = split(nested_profile, "slurm")
    assert (flat.settings, flat.services, flat.executor) == (
        nested.settings,
        nested.services,
        nested.executor,
    )
    assert set(flat.settings) == set(flat_profile)
    assert all(isinstance(flat.settings[k], list) for k in ("modules", "setup") if k in common)
    assert set(flat.origins) == set(flat.settings) | {f"executor.{k}" for k in common}
    if check_schema:
        SlurmEnvironment.model_validate({"type": "slurm", **flat.settings})


profile_keys = st.sampled_from(
    [
        "type",
        "services",
        "executor",
        "postgres",
        "partition",
        "modules",
        "setup",
        "mail_user",
        "extra_sbatch",
        "chunk_size",
        "workers",
        "file_root",
    ]
)
profile_values = st.one_of(
    st.sampled_from(["slurm", "local", "x"]),
    st.integers(-1, 3),
    st.lists(st.sampled_from(["a", "b"]), max_size=2),
)
profiles = st.recursive(
    st.dictionaries(profile_keys, profile_values, max_size=4),
    lambda children: st.dictionaries(profile_keys, children, max_size=3),
    max_leaves=10,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(profile=profiles)
def test_random_profiles_resolve_or_fail_in_one_line(profile: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory)
        document = {"project": {"default_env": "e"}, "environments": {"e": profile}}
        (path / ".metalab.toml").write_text(_to_toml(document))
        for args in (["env", "list"], ["env", "show", "--origin"], ["env", "show", "--json"]):
            code, _, err = invoke(args, path)
            assert code in (0, 2), err
            if code == 2:
                assert err.startswith("metalab: error: ") and err.count("\n") == 1


def test_empty_tables_still_declare_services() -> None:
    canonical = split({"services": {"postgres": {}, "partition": "p"}, "executor": {}}, "slurm")
    assert canonical.services == {"postgres": {}}
    assert canonical.settings == {"partition": "p"}
    assert canonical.executor == {}
