"""plan_job / describe: what is submitted, and that no secret is in it."""

from __future__ import annotations

from pathlib import Path

from metalab.core.schema import SlurmEnvironment
from metalab_orchestrator.backends.slurm.backend import SlurmBackend, plan_job
from metalab_orchestrator.backends.slurm.script import render_sbatch
from metalab_orchestrator.spec import Spec

SECRET = "pw-SECRET-1234"


def spec(**extra: object) -> Spec:
    environment = SlurmEnvironment.model_validate(
        {
            "type": "slurm",
            "gateway": "hpc.example.org",
            "partition": "cpu",
            "time": "2:00:00",
            "file_root": "/shared/exp",
            "services": {"postgres": {"password": SECRET}, "atlas": {}},
            **extra,
        }
    )
    return Spec("proj", "slurm", Path("/home/u/proj"), environment)


def test_password_goes_to_a_file_not_the_script() -> None:
    plan, job, spec_file = plan_job(spec(), "abc123")
    script = render_sbatch(plan)
    assert SECRET not in script and SECRET not in job.to_json().decode()
    assert job.postgres is not None
    assert job.postgres.password_file == "/shared/exp/services/slurm/postgres-abc123.password"
    assert spec_file == "/shared/exp/services/slurm/job-abc123.json"
    assert "--nonce abc123" in script and "#SBATCH --partition=cpu" in script
    assert "#SBATCH --signal=B:USR1@300" in script


def test_dry_run_description_names_the_gateway_and_holds_no_secret() -> None:
    text = SlurmBackend().describe(spec(), "<nonce>")
    assert "sbatch over SSH to hpc.example.org" in text
    assert SECRET not in text


def test_conda_env_defaults_to_its_python() -> None:
    plan, _job, _file = plan_job(spec(conda_env="ml"), "n")
    assert plan.python == "python"
    assert "conda activate ml" in render_sbatch(plan)


def test_file_only_mode_has_no_postgres() -> None:
    environment = SlurmEnvironment.model_validate({"type": "slurm", "file_root": "/shared/exp"})
    _plan, job, _file = plan_job(Spec("p", "slurm", Path("/p"), environment), "n")
    assert job.postgres is None and job.atlas is not None
