"""What the client hands the job (``JobSpec``) and what the job reports back (``Endpoint``).

Both are small JSON files on the shared filesystem under the environment's services directory
(``{file_root}/services/``). The job writes its endpoint atomically, only after its own
readiness check, stamped with the submission's nonce; the client ignores any endpoint whose
nonce is not the current submission's, so a stale file from an earlier job never reads as
"ready". Neither file holds a secret: they reference 0600 files by path.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .runner import CommandRunner

log = logging.getLogger(__name__)

ENDPOINT_NAME = "slurm-endpoint.json"
JOB_DIR = "slurm"


def endpoint_path(services_dir: str) -> str:
    return str(Path(services_dir) / ENDPOINT_NAME)


def job_dir(services_dir: str) -> str:
    return str(Path(services_dir) / JOB_DIR)


@dataclass(frozen=True)
class PostgresJobSpec:
    auth_method: str = "scram-sha-256"
    database: str = "metalab"
    user: str = "metalab"
    port: int | None = None
    run_as: str | None = None
    start_timeout: float = 30.0
    password_file: str = ""  # a 0600 file with the configured password, consumed by the job


@dataclass(frozen=True)
class AtlasJobSpec:
    port: int | None = None
    start_timeout: float = 30.0


@dataclass(frozen=True)
class JobSpec:
    """The job's instructions (``--spec FILE``); paths are on the shared filesystem."""

    nonce: str
    services_dir: str
    file_root: str | None
    bundle_path: str
    postgres: PostgresJobSpec | None = None
    atlas: AtlasJobSpec | None = None
    advertise: str | None = None  # the interface or network whose address to advertise

    @property
    def endpoint(self) -> str:
        return endpoint_path(self.services_dir)

    @property
    def data_dir(self) -> Path:
        return Path(self.services_dir) / "postgres" / "data"

    @property
    def lease(self) -> Path:
        """The lease on the data directory: a lock file in its parent."""
        return Path(self.services_dir) / "postgres" / "data.lease"

    @property
    def run_dir(self) -> Path:
        return Path(self.services_dir) / "run"

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()

    @classmethod
    def from_json(cls, data: bytes) -> JobSpec:
        raw = json.loads(data)
        postgres = raw.pop("postgres", None)
        atlas = raw.pop("atlas", None)
        return cls(
            **raw,
            postgres=PostgresJobSpec(**postgres) if postgres else None,
            atlas=AtlasJobSpec(**atlas) if atlas else None,
        )


@dataclass(frozen=True)
class Endpoint:
    """The job's report: where its services listen (state ``ready``) or why it gave up."""

    nonce: str
    job_id: str
    host: str
    state: str  # ready | failed | stopped (by a signal, after its services shut down)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    store_locator: str = ""
    error: str = ""
    log_tail: str = ""
    written_at: str = ""
    node: str = ""  # SLURM's name for the node; ``host`` is the address clients use
    addresses: list[str] = field(default_factory=list)  # every address considered

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), indent=2).encode()


def parse_endpoint(data: bytes, nonce: str) -> Endpoint | None:
    """The endpoint in ``data`` if it belongs to submission ``nonce``; None otherwise."""
    try:
        raw = json.loads(data)
        endpoint = Endpoint(**raw)
    except (ValueError, TypeError) as exc:
        log.warning("ignoring an unreadable endpoint file: %s", exc)
        return None
    if endpoint.nonce != nonce or endpoint.state not in ("ready", "failed", "stopped"):
        return None
    return endpoint


async def read_endpoint(runner: CommandRunner, services_dir: str, nonce: str) -> Endpoint | None:
    data = await runner.read_file(endpoint_path(services_dir))
    return None if data is None else parse_endpoint(data, nonce)
