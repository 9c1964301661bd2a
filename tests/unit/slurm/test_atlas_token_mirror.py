"""Through a gateway, Atlas's token file is copied to the client (0600) for the login URL."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

from metalab_orchestrator.backends.slurm.backend import _mirror_atlas_token


class ClusterFiles:
    """Files that exist only on the cluster side of a gateway."""

    def __init__(self, target: str, files: dict[str, bytes]) -> None:
        self.target = target
        self.files = files

    async def read_file(self, path: str) -> bytes | None:
        return self.files.get(path)


def test_token_is_copied_private_when_the_cluster_disk_is_remote(tmp_path: Path) -> None:
    ref = tmp_path / "shared" / "services" / "run" / "atlas.token"
    runner = ClusterFiles("alice@gw", {str(ref): b"t0ken\n"})
    asyncio.run(_mirror_atlas_token(runner, {"secret_ref": str(ref)}))  # type: ignore[arg-type]
    assert ref.read_bytes() == b"t0ken"
    assert stat.S_IMODE(ref.stat().st_mode) == 0o600


def test_nothing_is_written_locally_or_when_already_there(tmp_path: Path) -> None:
    ref = tmp_path / "atlas.token"
    asyncio.run(
        _mirror_atlas_token(ClusterFiles("local", {str(ref): b"x"}), {"secret_ref": str(ref)})  # type: ignore[arg-type]
    )
    assert not ref.exists()
    ref.write_text("mine")
    asyncio.run(
        _mirror_atlas_token(ClusterFiles("a@gw", {str(ref): b"x"}), {"secret_ref": str(ref)})  # type: ignore[arg-type]
    )
    assert ref.read_text() == "mine"
    asyncio.run(_mirror_atlas_token(ClusterFiles("a@gw", {}), None))  # type: ignore[arg-type]
