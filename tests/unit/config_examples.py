"""Project files in upstream's and the flat layout, shared by the config tests."""

from __future__ import annotations

from pathlib import Path

# The project head of upstream's "Full example" (docs/services.md), up to the SLURM user.
UPSTREAM_HEAD = """
[project]
name = "my-project"
default_env = "slurm"

[services.postgres]
auth_method = "scram-sha-256"
database = "metalab"

[services.atlas]
port = 8000

[environments.local]
type = "local"
file_root = "./runs"

[environments.slurm]
type = "slurm"
gateway = "hpc.university.edu"
user = "researcher"
"""

# The "Full example" and local override of upstream's docs/services.md.
UPSTREAM = (
    UPSTREAM_HEAD
    + """file_root = "/shared/experiments"

[environments.slurm.services]
partition = "cpu2019"
time = "7-00:00:00"
memory = "10G"

[environments.slurm.executor]
partition = "gpu"
time = "1:00:00"
memory = "32G"
gpus = 1
modules = ["cuda/12.0"]
conda_env = "ml-env"
max_concurrent = 200
"""
)


UPSTREAM_LOCAL = """
[environments.slurm]
user = "jsmith"
ssh_key = "~/.ssh/cluster_key"

[environments.slurm.services]
partition = "my-lab-partition"

[environments.slurm.executor]
setup = ["source ~/my_setup.sh"]
mail_user = "jsmith@university.edu"
mail_type = "end,fail"

[services.postgres]
password = "my-secret-password"
"""


def write(directory: Path, base: str, local: str | None = None) -> Path:
    (directory / ".metalab.toml").write_text(base)
    if local is not None:
        (directory / ".metalab.local.toml").write_text(local)
    return directory


FLAT = """
[project]
default_env = "slurm"

[environments.slurm]
type = "slurm"
gateway = "hpc.university.edu"
partition = "cpu2019"
time = "7-00:00:00"
memory = "10G"
"""
