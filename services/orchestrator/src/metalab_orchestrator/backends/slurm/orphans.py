"""Find an environment's services jobs without its bundle (deleted, corrupt or truncated).

A services job is recognised by what the backend gave it at submission, all of which SLURM
reports back: it is one of the caller's own jobs (``squeue --me``: the cluster account the
runner acts as), its name is ``metalab-<project>-<environment>-<nonce>`` with a nonce of 16 hex
digits, and its working directory is this environment's job directory under the services
directory. The working directory tells apart two projects of the same name (and a project
``a-b`` with environment ``c`` from project ``a`` with environment ``b-c``): each has its own
services directory.
"""

from __future__ import annotations

import re

from metalab.core.slurm.squeue import own_job_fields, own_jobs_argv
from metalab_orchestrator.spec import Spec

from .endpoint import job_dir
from .runner import CommandRunner

_NONCE = re.compile(r"[0-9a-f]{16}")


def name_prefix(spec: Spec) -> str:
    return f"metalab-{spec.project}-{spec.name}-"


def environment_jobs(output: str, prefix: str, workdir: str) -> list[str]:
    """Ids of the active jobs in ``squeue`` `own_jobs_argv` output named ``prefix<nonce>``
    and running in ``workdir``."""
    found = []
    for line in output.splitlines():
        fields = own_job_fields(line, workdir)
        if fields is None:
            continue
        job_id, _, name = fields
        if name.startswith(prefix) and _NONCE.fullmatch(name[len(prefix) :]):
            found.append(job_id)
    return found


async def find_environment_jobs(runner: CommandRunner, spec: Spec) -> list[str]:
    """This environment's active services jobs among the caller's own, found by name and
    working directory (no bundle needed)."""
    listed = await runner.run(own_jobs_argv())
    return environment_jobs(listed.stdout, name_prefix(spec), job_dir(str(spec.services_dir)))
