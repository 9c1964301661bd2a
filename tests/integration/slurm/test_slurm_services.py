"""`metalab services up|status|down --env slurm` against the real single-node cluster."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.slurm.project import Project

pytestmark = pytest.mark.slurm

PG = {"database": "metalab"}


def up(project: Project, *extra: str) -> subprocess.CompletedProcess[str]:
    return project.cli("services", "up", "--env", "slurm", *extra)


def job_of(project: Project) -> str:
    bundle = project.bundle()
    assert bundle is not None
    return str(bundle["job_id"])


def test_up_status_down_with_local_sbatch(project: Project) -> None:
    project.configure(postgres=PG, atlas={})
    done = up(project)
    assert done.returncode == 0, done.stderr
    assert re.search(r"submitted job \d+", done.stderr)
    assert "starting postgres on" in done.stderr or "ready postgres" in done.stderr
    bundle = project.bundle()
    assert bundle is not None and bundle["state"] == "ready" and bundle["expires_at"]
    job = bundle["job_id"]
    node = subprocess.run(
        ["squeue", "-h", "-j", job, "-o", "%N"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert bundle["services"]["postgres"]["host"] == node
    assert bundle["services"]["atlas"]["host"] == node
    assert bundle["services"]["postgres"]["port"] != 5432  # chosen free, never fixed

    status = project.cli("services", "status", "--env", "slurm")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "✓ postgres" in status.stdout and "✓ atlas" in status.stdout
    assert f"job {job}: RUNNING" in status.stdout

    # The store works from here, through the bundle's passfile, as the bundle says.
    pg = bundle["services"]["postgres"]
    env = {**project.env, "PGPASSFILE": pg["passfile"]}
    query = subprocess.run(
        [
            "psql",
            "-XAtw",
            "-h",
            pg["host"],
            "-p",
            str(pg["port"]),
            "-U",
            pg["user"],
            "-d",
            pg["database"],
            "-c",
            "SELECT 41 + 1",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert query.stdout.strip() == "42", query.stderr

    again = up(project)  # healthy bundle: reused, no second job
    assert again.returncode == 0 and "reused" in again.stdout
    assert list(project.jobs()) == [job]

    down = project.cli("services", "down", "--env", "slurm")
    assert down.returncode == 0, down.stderr
    assert project.active_jobs() == {}  # down waits until the job is gone
    assert project.bundle() is None
    log = (project.services_dir / "run" / "postgres.log").read_text()
    assert "database system is shut down" in log  # scancel -> fast, clean shutdown


def test_file_only_mode_runs_atlas_alone(project: Project) -> None:
    project.configure(slurm={"time": "5:00"})
    done = up(project)
    assert done.returncode == 0, done.stderr
    bundle = project.bundle()
    assert bundle is not None and set(bundle["services"]) == {"atlas"}
    assert bundle["store_locator"] == str(project.root)
    status = project.cli("services", "status", "--env", "slurm")
    assert status.returncode == 0 and "✓ atlas" in status.stdout


def test_atlas_on_the_compute_node_requires_its_token_everywhere(project: Project) -> None:
    import httpx

    project.configure(slurm={"time": "5:00"})
    done = up(project)
    assert done.returncode == 0
    bundle = project.bundle()
    assert bundle is not None
    atlas = bundle["services"]["atlas"]
    token = Path(atlas["secret_ref"]).read_text().strip()
    printed = f"  atlas: {atlas['url']}/?token={token}"
    assert printed in done.stdout.splitlines(), done.stdout  # what the browser needs
    reused = project.cli("services", "up", "--env", "slurm", "--json")
    assert reused.returncode == 0 and token not in reused.stdout + reused.stderr
    with httpx.Client(base_url=atlas["url"], timeout=10) as http:
        for path in ("/", "/static/app.js", "/api/health", "/api/experiments"):
            assert http.get(path).status_code == 401
            ok = http.get(path, headers={"Authorization": f"Bearer {token}"})
            assert ok.status_code == 200
        login = http.get("/", params={"token": token})
        assert login.status_code == 303 and "atlas_token=" in login.headers["set-cookie"]
        assert http.get("/api/experiments").status_code == 200  # the cookie


def test_pending_job_shows_reason_respects_queue_budget_and_is_cancelled(
    project: Project,
) -> None:
    project.configure(slurm={"sbatch_args": ["--begin=now+3600"], "queue_timeout": 3})
    started = time.monotonic()
    done = up(project)
    elapsed = time.monotonic() - started
    assert done.returncode == 1
    assert "queued (BeginTime)" in done.stderr
    assert "still queued after 3s (reason: BeginTime)" in done.stderr
    assert elapsed < 30
    assert project.active_jobs() == {}  # cancelled, not orphaned
    assert project.bundle() is None


def test_stale_endpoint_file_from_an_earlier_job_is_ignored(project: Project) -> None:
    project.configure(slurm={"sbatch_args": ["--begin=now+3600"], "queue_timeout": 3})
    project.services_dir.mkdir(parents=True, mode=0o711)
    stale = (
        '{"nonce": "0000", "job_id": "1", "host": "ghost", "state": "ready", '
        '"services": {"atlas": {"host": "ghost", "port": 1}}}'
    )
    (project.services_dir / "slurm-endpoint.json").write_text(stale)
    done = up(project)
    assert done.returncode == 1 and "still queued" in done.stderr
    assert "ghost" not in done.stdout + done.stderr


def test_missing_installation_on_the_node_fails_fast_with_the_jobs_output(
    project: Project,
) -> None:
    project.configure(slurm={"python": "/nonexistent/bin/python"})
    started = time.monotonic()
    done = up(project)
    assert done.returncode == 1
    assert "/nonexistent/bin/python" in done.stderr and "No such file" in done.stderr
    assert time.monotonic() - started < 30  # not the start_timeout
    assert project.active_jobs() == {}


def test_service_failing_in_the_job_cancels_it_and_shows_the_log_tail(
    project: Project,
) -> None:
    project.configure(postgres=PG)
    local = project.dir / ".metalab.local.toml"
    local.write_text('[services.postgres]\nrun_as = "no-such-user-xyz"\n')
    done = up(project)
    assert done.returncode == 1
    assert "no-such-user-xyz" in done.stderr and "does not exist" in done.stderr
    assert project.active_jobs() == {}
    assert project.bundle() is None


def test_lease_refuses_a_second_server_on_the_data_dir(project: Project) -> None:
    project.configure(postgres=PG)
    lease = project.services_dir / "postgres" / "data.lease"
    lease.parent.mkdir(parents=True, mode=0o711)
    project.services_dir.chmod(0o711)
    fd = os.open(lease, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.write(fd, b"job 999 on elsewhere\n")
        fcntl.flock(fd, fcntl.LOCK_EX)
        done = up(project)
    finally:
        os.close(fd)
    assert done.returncode == 1
    assert "leased by job 999 on elsewhere" in done.stderr
    assert project.active_jobs() == {}


def test_external_scancel_then_status_fails_and_up_resubmits(project: Project) -> None:
    project.configure(postgres=PG, atlas={})
    assert up(project).returncode == 0
    first = job_of(project)
    subprocess.run(["scancel", first], check=True)
    project.wait_no_active_jobs()
    status = project.cli("services", "status", "--env", "slurm")
    assert status.returncode == 1
    assert "✗ postgres" in status.stdout and "CANCELLED" in status.stdout
    again = up(project)
    assert again.returncode == 0, again.stderr
    second = job_of(project)
    assert second != first
    log = (project.services_dir / "run" / "postgres.log").read_text()
    assert "database system is shut down" in log


def test_two_concurrent_ups_make_one_job(project: Project) -> None:
    project.configure(postgres=PG, atlas={})
    first, second = project.popen("services", "up"), project.popen("services", "up")
    results = [p.communicate(timeout=180) for p in (first, second)]
    assert first.returncode == 0 and second.returncode == 0, results
    assert len(project.jobs()) == 1
    assert any("reused" in out for out, _ in results)


def up_until_submitted(project: Project) -> subprocess.Popen[str]:
    """`services up` in the background, returned once it has said which job it submitted."""
    process = project.popen("services", "up")
    assert process.stderr is not None
    for line in process.stderr:
        if "submitted job" in line:
            break
    return process


def test_interrupted_up_cancels_its_job(project: Project) -> None:
    project.configure(slurm={"sbatch_args": ["--begin=now+3600"]})
    process = up_until_submitted(project)
    assert process.stderr is not None
    process.send_signal(signal.SIGINT)  # Ctrl+C
    _, err = process.communicate(timeout=120)
    assert process.returncode != 0
    assert "Interrupted: stopping what this `up` started" in err
    project.wait_no_active_jobs(timeout=30)
    assert project.bundle() is None


def test_second_ctrl_c_leaves_the_job_to_the_next_up(project: Project) -> None:
    """Either the clean-up finished, or the bundle still names the job: never a lost job."""
    project.configure(slurm={"sbatch_args": ["--begin=now+3600"]})
    process = up_until_submitted(project)
    assert process.stderr is not None
    process.send_signal(signal.SIGINT)
    for line in process.stderr:
        if "Interrupted" in line:
            break
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=60)
    assert process.returncode != 0
    active = project.active_jobs()
    bundle = project.bundle()
    if active:
        assert bundle is not None and list(active) == [bundle["job_id"]]
    down = project.cli("services", "down")
    assert down.returncode == 0, down.stderr
    project.wait_no_active_jobs(timeout=30)
    assert project.bundle() is None


def test_up_after_a_killed_client_waits_for_the_pending_job(project: Project) -> None:
    project.configure(slurm={"sbatch_args": ["--hold"]})
    process = up_until_submitted(project)
    assert process.stderr is not None
    process.kill()  # no cleanup at all: the provisioning bundle holds the job id
    process.communicate(timeout=30)
    pending = project.active_jobs()
    assert len(pending) == 1
    second = project.popen("services", "up")
    assert second.stderr is not None
    seen = []
    for line in second.stderr:
        seen.append(line)
        if "submitted earlier" in line:
            break
    subprocess.run(["scontrol", "release", *pending], check=True)
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, "".join(seen) + err
    assert list(project.jobs()) == list(pending)  # waited for it: no second job


def test_walltime_signal_stops_postgres_cleanly(project: Project) -> None:
    """USR1 to the batch shell is what --signal=B:USR1@N delivers before the walltime."""
    project.configure(postgres=PG)
    assert up(project).returncode == 0
    job = job_of(project)
    subprocess.run(["scancel", "--signal=USR1", "--batch", job], check=True)
    project.wait_no_active_jobs()
    output = (project.services_dir / "slurm" / f"job-{job}.out").read_text()
    assert "received SIGUSR1" in output and "postgres stopped" in output
    log_path = project.services_dir / "run" / "postgres.log"
    assert "database system is shut down" in log_path.read_text()
    offset = log_path.stat().st_size
    assert up(project).returncode == 0
    restart = log_path.read_text()[offset:]
    assert "database system was shut down at" in restart  # clean: no recovery
    assert "automatic recovery" not in restart


def test_secrets_stay_out_of_scontrol_output_and_process_list(project: Project) -> None:
    password = "s3cret-pw-" + os.urandom(4).hex()
    project.configure(postgres=PG, atlas={}, local=f'password = "{password}"\n')
    assert up(project).returncode == 0
    bundle = project.bundle()
    assert bundle is not None
    job = bundle["job_id"]
    token = Path(bundle["services"]["atlas"]["secret_ref"]).read_text().strip()
    assert Path(bundle["services"]["atlas"]["secret_ref"]).stat().st_mode & 0o077 == 0
    shown = subprocess.run(
        ["scontrol", "show", "job", "-dd", job], capture_output=True, text=True, check=True
    ).stdout
    script = subprocess.run(
        ["scontrol", "write", "batch_script", job, "-"], capture_output=True, text=True, check=True
    ).stdout
    processes = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    output = (project.services_dir / "slurm" / f"job-{job}.out").read_text()
    for text in (shown, script, processes, output, project.cli("services", "status").stdout):
        assert password not in text and token not in text
    assert "metalab_orchestrator.backends.slurm.job" in script


def test_dry_run_prints_the_script_and_submits_nothing(project: Project) -> None:
    project.configure(postgres=PG, atlas={}, local='password = "dry-run-secret"\n')
    done = project.cli("services", "up", "--env", "slurm", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "#SBATCH --signal=B:USR1@60" in done.stdout
    assert "metalab_orchestrator.backends.slurm.job" in done.stdout
    assert "dry-run-secret" not in done.stdout + done.stderr
    assert project.jobs() == {} and project.bundle() is None


def test_real_walltime_signal_ends_the_job_before_its_time_limit(project: Project) -> None:
    """Slow (about 1-2 min): SLURM itself sends USR1 `--signal=B:USR1@30` before a 2 min limit."""
    project.configure(postgres=PG, slurm={"time": "2"})
    assert up(project).returncode == 0
    job = job_of(project)
    project.wait_no_active_jobs(timeout=180)
    assert project.jobs()[job] == "COMPLETED"  # stopped itself, not killed at TIMEOUT
    output = (project.services_dir / "slurm" / f"job-{job}.out").read_text()
    assert "received SIGUSR1" in output and "postgres stopped" in output
    log = (project.services_dir / "run" / "postgres.log").read_text()
    assert "database system is shut down" in log


def test_weird_file_root_survives_real_sbatch(project: Project) -> None:
    """Spaces, quotes and `'; echo x` in the path: sbatch's own parser reads the directives."""
    weird = project.root / "we ird 'q' \"dq\"; echo x"
    weird.mkdir(mode=0o755)
    project.root = weird
    project.configure(slurm={"time": "5:00"})
    done = up(project)
    assert done.returncode == 0, done.stderr
    bundle = project.bundle()
    assert bundle is not None and bundle["store_locator"] == str(weird)
    assert list((weird / "services" / "slurm").glob("job-*.out"))  # --output landed there
    assert project.cli("services", "down", "--env", "slurm").returncode == 0
    assert project.active_jobs() == {}


def test_newline_in_file_root_is_refused_before_submitting(project: Project) -> None:
    project.root = project.root / "a\nb"
    project.configure(slurm={"time": "5:00"})
    done = up(project)
    assert done.returncode != 0 and "control character" in done.stderr
    assert project.jobs() == {}
