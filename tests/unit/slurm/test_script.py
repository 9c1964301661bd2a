"""render_sbatch: golden file, shell-safety with hostile values, walltime parsing."""

from __future__ import annotations

import difflib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from metalab.core.slurm.commands import slurm_filename
from metalab.errors import ConfigError
from metalab_orchestrator.backends.slurm.script import (
    JOB_MODULE,
    SlurmPlan,
    render_sbatch,
    signal_lead,
    walltime_seconds,
)

GOLDEN = Path(__file__).parent / "golden" / "sbatch_full.txt"
WEIRD = "a b/it's \"quoted\"/'; echo x/$HOME `id`\nnext"


def full_plan() -> SlurmPlan:
    return SlurmPlan(
        job_name="metalab-proj-slurm-0123456789abcdef",
        output="/shared/exp/services/slurm/job-%j.out",
        workdir="/shared/exp/services/slurm",
        time="1-00:00:00",
        python="/opt/venv/bin/python",
        job_args=("--spec", "/shared/exp/services/slurm/job-0123.json", "--nonce", "0123"),
        partition="cpu2019",
        memory="1G",
        cpus=2,
        gpus=1,
        account="lab",
        qos="normal",
        sbatch_args=("--constraint=skylake",),
        modules=("python/3.11",),
        conda_env="metalab",
        setup=("export OMP_NUM_THREADS=1",),
    )


def test_golden_file() -> None:
    """To refresh after an intended change: METALAB_UPDATE_GOLDEN=1 pytest tests/unit/slurm."""
    rendered = render_sbatch(full_plan())
    if os.environ.get("METALAB_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(rendered)
    expected = GOLDEN.read_text()
    lines = difflib.unified_diff(expected.splitlines(), rendered.splitlines(), lineterm="")
    diff = "\n".join(lines)
    assert rendered == expected, f"script changed (METALAB_UPDATE_GOLDEN=1 refreshes):\n{diff}"


def test_minimal_plan_has_no_optional_directives() -> None:
    script = render_sbatch(SlurmPlan("j", "/o/%j.out", "/w", "10", "/py", ()))
    assert "--partition" not in script and "--mem" not in script and "--gpus" not in script
    assert "#SBATCH --signal=B:USR1@60" in script  # a tenth of 10 minutes
    assert "#SBATCH --export=NONE" in script
    assert script.rstrip().endswith("exec /py -m metalab_orchestrator.backends.slurm.job")


def test_weird_values_reach_the_job_verbatim(tmp_path: Path) -> None:
    """A shell runs the script: argv arrives intact and nothing is executed from values."""
    weird_dir = tmp_path / "dir with 'quotes' and ; echo pwned"
    weird_dir.mkdir()
    record = tmp_path / "argv.json"
    fake_python = weird_dir / "python"
    fake_python.write_text(
        f"#!{sys.executable}\nimport json, sys\n"
        f"open({str(record)!r}, 'w').write(json.dumps(sys.argv[1:]))\n"
    )
    fake_python.chmod(0o755)
    args = ("--spec", WEIRD, "--nonce", "'; touch pwned #")
    plan = SlurmPlan("ok", "/o/%j.out", "/w", "5", str(fake_python), args)
    script = tmp_path / "job.sh"
    script.write_text(render_sbatch(plan))
    subprocess.run(["bash", str(script)], cwd=tmp_path, check=True, timeout=30)
    assert json.loads(record.read_text()) == ["-m", JOB_MODULE, *args]
    assert not (tmp_path / "pwned").exists()


def test_weird_directive_values_round_trip() -> None:
    """sbatch reads #SBATCH values with shell quoting (checked against real sbatch in
    tests/integration/slurm); here: shlex gives back exactly the value."""
    hostile = 'we ird\'; echo x "q" $(id)'
    plan = SlurmPlan(
        hostile,
        slurm_filename(f"/tmp/{hostile}") + "/%j.out",
        "/w",
        "5",
        "/py",
        (),
        partition=hostile,
        account=hostile,
    )
    values = {}
    for line in render_sbatch(plan).splitlines():
        if line.startswith("#SBATCH "):
            option, _, value = line.removeprefix("#SBATCH ").partition("=")
            values[option] = shlex.split(value)[0] if value else ""
    assert values["--job-name"] == hostile
    assert values["--partition"] == hostile
    assert values["--account"] == hostile
    assert values["--output"] == f"/tmp/{hostile}/%j.out"


@pytest.mark.parametrize("field", ["job_name", "output", "partition", "memory"])
def test_newline_in_a_directive_is_refused(field: str) -> None:
    plan = SlurmPlan(**{**full_plan().__dict__, field: "a\nb"})
    with pytest.raises(ConfigError, match="control character"):
        render_sbatch(plan)


def test_extra_sbatch_args_must_be_options() -> None:
    plan = SlurmPlan(**{**full_plan().__dict__, "sbatch_args": ("rm -rf /",)})
    with pytest.raises(ConfigError, match="not an sbatch option"):
        render_sbatch(plan)


def test_percent_is_escaped_for_slurm_patterns() -> None:
    assert slurm_filename("/a%b/c") == "/a%%b/c"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("10", 600),
        ("10:30", 630),
        ("1:00:00", 3600),
        ("2-0", 172800),
        ("1-02:03", 93780),
        ("1-00:00:01", 86401),
    ],
)
def test_walltime_seconds(value: str, seconds: int) -> None:
    assert walltime_seconds(value) == seconds


@pytest.mark.parametrize("value", ["", "1h", "1:2:3:4", "-1", "abc"])
def test_walltime_rejects_garbage(value: str) -> None:
    with pytest.raises(ConfigError):
        walltime_seconds(value)


def test_signal_lead_is_bounded() -> None:
    assert signal_lead(60) == 30
    assert signal_lead(3600) == 300
    assert signal_lead(1200) == 120
    assert signal_lead(86400) == 300
