"""Stopping a local environment's native services: blocking and cheap to import (no asyncio; the
Docker SDK only when a container engine may answer).

The local backend runs these in threads and the CLI's fast `services down` calls them directly:
the same identity checks either way. A recorded process is signalled only when `process.refusal`
vouches for it (pid and process group above 1, the recorded start time, an allowed account, the
expected executable); the records and paths come from the services directory, as the backend's.
"""

from __future__ import annotations

from pathlib import Path
from signal import SIGINT
from typing import Any

from metalab_orchestrator.runtime.paths import atlas_dir, atlas_owner, data_dir_of
from metalab_orchestrator.runtime.process import (
    NotOurProcess,
    Ownership,
    ProcessRecord,
    is_ours,
    read_record,
    terminate_group,
)

STOP_GRACE = 5.0


def atlas_pid_file(services_dir: Path) -> Path:
    """Atlas's own record (pid and start time), written before Atlas runs (a gated spawn)."""
    return atlas_dir(services_dir) / "atlas.pid"


def read_atlas_pid(services_dir: Path) -> ProcessRecord | None:
    """The recorded Atlas, when the pid file is a regular 0600 file of ours that parses."""
    return read_record(atlas_pid_file(services_dir))


def native_target(
    name: str, handle: dict[str, Any], services_dir: Path
) -> tuple[ProcessRecord, Ownership]:
    """The process a native service entry records (typed by `ServiceRecord`) and who it must be
    before it is signalled: PostgreSQL's postmaster (its own group) or Atlas's process group."""
    from metalab_orchestrator.runtime.health import record_of

    if name == "postgres":
        from metalab.core.bundle.model import ServiceRecord
        from metalab_orchestrator.runtime.pg_layout import server_owner

        entry = ServiceRecord.from_dict(handle, "services.postgres.")
        record = ProcessRecord(entry.pid, entry.start_time, entry.pid)
        return record, server_owner(data_dir_of(services_dir))
    return record_of(handle), atlas_owner()


def stop_native(name: str, handle: dict[str, Any], services_dir: Path) -> None:
    """Stop one recorded native service: PostgreSQL with a fast shutdown (SIGINT to the
    postmaster), Atlas with SIGTERM to its group; SIGKILL after `STOP_GRACE`. `NotOurProcess`
    when the record names anything else."""
    record, owner = native_target(name, handle, services_dir)
    if name == "postgres":
        terminate_group(record, STOP_GRACE, first_signal=SIGINT, leader_only=True, owner=owner)
    else:
        terminate_group(record, STOP_GRACE, owner=owner)


def stop_unrecorded_atlas(services_dir: Path) -> bool:
    """Stop the Atlas the pid file names when it is ours and still runs; True when stopped."""
    record = read_atlas_pid(services_dir)
    if record is None:
        return False
    owner = atlas_owner()
    running = is_ours(record, owner)
    try:
        terminate_group(record, STOP_GRACE, owner=owner)
    except NotOurProcess:
        running = False
    atlas_pid_file(services_dir).unlink(missing_ok=True)
    return running


def stop_unrecorded_server(data_dir: Path) -> bool:
    """Stop a server left on this environment's data dir by a crashed `up` (no bundle
    recorded it): the one our pid file names, then the one of ``postmaster.pid``. The data
    dir belongs to this project and environment alone. True when one was stopped."""
    from metalab_orchestrator.runtime.pg_layout import server_owner, server_pid_file

    owner = server_owner(data_dir)
    stopped = False
    spawned = read_record(server_pid_file(data_dir))
    if spawned is not None and is_ours(spawned, owner):
        try:
            terminate_group(spawned, STOP_GRACE, first_signal=SIGINT, owner=owner)
            stopped = True
        except NotOurProcess:
            pass
    return _stop_postmaster(data_dir, owner) or stopped


def _stop_postmaster(data_dir: Path, owner: Ownership) -> bool:
    from metalab_orchestrator.runtime.process import read_proc_stat

    try:
        first_line = (data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        pid = int(first_line)
    except (OSError, ValueError):
        return False
    if pid <= 1:
        return False
    found = read_proc_stat(pid)
    try:
        cwd_matches = Path(f"/proc/{pid}/cwd").resolve() == data_dir.resolve()
    except OSError:
        cwd_matches = False
    if found is None or found.state in ("Z", "X") or not cwd_matches:
        return False
    try:
        terminate_group(
            ProcessRecord(pid, found.start_time, pid),
            STOP_GRACE,
            first_signal=SIGINT,
            owner=owner,
        )
    except NotOurProcess:
        return False  # not this data directory's server: nothing of ours to stop
    return True


def remove_unrecorded_containers(
    runtime: str, project: str, environment: str, services_dir: Path
) -> bool:
    """Remove this environment's containers (checked by labels and mounts) on every engine that
    may hold some: the configured one, both under ``auto``, and under ``native`` both only when
    a server may still hold the data directory. True when any were removed."""
    from metalab_orchestrator.runtime import engines

    names = [runtime] if runtime in ("docker", "podman") else ["docker", "podman"]
    if runtime == "native":
        pid_file = data_dir_of(services_dir) / "postmaster.pid"
        names = ["docker", "podman"] if pid_file.exists() else []
    removed = 0
    for name in names:
        url = engines.engine_url(name)
        if engines.may_answer(url) and not engines.probe_engine(url):
            from metalab_orchestrator.runtime import containers

            owner = containers.Owner(project, environment, services_dir.resolve())
            removed += containers.remove_leftovers(url, owner, STOP_GRACE)
    return removed > 0
