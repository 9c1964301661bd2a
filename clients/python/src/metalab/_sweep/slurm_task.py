"""One SLURM array task: ``python -m metalab._sweep.slurm_task PAYLOAD_DIR INDEX``.

Reads ``PAYLOAD_DIR/payload.json`` (plain data: operation path, store locator, tasks), runs task
``INDEX`` and records it in the store. SIGTERM (scancel, walltime) records the run as cancelled.
Exit code: 0 completed, 1 the operation failed (recorded), 2 the task could not start.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path
from types import FrameType

from metalab.errors import MetalabError

USAGE = "usage: python -m metalab._sweep.slurm_task PAYLOAD_DIR INDEX"


def _on_term(signum: int, frame: FrameType | None) -> None:
    from metalab._sdk.runner import RunCancelled

    raise RunCancelled(f"signal {signum}")


def main(argv: list[str]) -> int:
    if len(argv) != 2 or not argv[1].isdigit():
        print(USAGE, file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, _on_term)
    payload_dir, index = Path(argv[0]), int(argv[1])
    try:
        payload = json.loads((payload_dir / "payload.json").read_text())
        task = payload["tasks"][index]
    except (OSError, ValueError, KeyError, IndexError) as exc:
        print(f"metalab task: cannot read task {index} of {payload_dir}: {exc}", file=sys.stderr)
        return 2
    from metalab._runstore.base import COMPLETED
    from metalab._sdk.runner import RunCancelled
    from metalab._sweep.worker import run_planned

    spec = {k: task[k] for k in ("run_id", "params", "seed")}
    try:
        record = run_planned(
            payload["experiment_id"],
            payload["operation"],
            payload["store"],
            spec,
            int(task.get("attempt", 1)),
            bool(payload.get("capture_output", True)),
            payload.get("python_path", []),
        )
    except RunCancelled:
        return 143
    except MetalabError as exc:
        print(f"metalab task {task.get('run_id')}: {exc}", file=sys.stderr)
        return 2
    print(f"metalab task {record.run_id}: {record.status}")
    return 0 if record.status == COMPLETED else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
