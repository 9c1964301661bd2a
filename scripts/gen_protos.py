"""Regenerate the gRPC stubs from proto/ into clients/python/src (package metalab.v1).

Usage: python scripts/gen_protos.py [OUTPUT_ROOT]

OUTPUT_ROOT defaults to clients/python/src; the stale-code test passes a temporary directory and
diffs. Nobody edits the output by hand.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTO_PACKAGE = Path("metalab") / "v1"


def generate(out_root: Path) -> list[Path]:
    """Generate *_pb2.py, *_pb2_grpc.py and their .pyi stubs under out_root."""
    package_dir = out_root / PROTO_PACKAGE
    package_dir.mkdir(parents=True, exist_ok=True)
    protos = sorted(
        str(p.relative_to(PROTO_ROOT)) for p in (PROTO_ROOT / PROTO_PACKAGE).glob("*.proto")
    )
    grpc_include = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{grpc_include}",
        f"--python_out={out_root}",
        f"--grpc_python_out={out_root}",
        f"--mypy_out={out_root}",
        f"--mypy_grpc_out={out_root}",
        *protos,
    ]
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    init = package_dir / "__init__.py"
    init.write_text(
        '"""Generated gRPC contracts (metalab.v1). Do not edit: run scripts/gen_protos.py."""\n'
    )
    return sorted(p for p in package_dir.iterdir() if p.is_file())


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "clients" / "python" / "src"
    for path in generate(target):
        print(path.relative_to(target))
