"""The committed stubs equal what scripts/gen_protos.py generates from proto/."""

from __future__ import annotations

import filecmp
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "clients" / "python" / "src" / "metalab" / "v1"


def test_generated_stubs_are_fresh(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("gen_protos", ROOT / "scripts" / "gen_protos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    generated = module.generate(tmp_path)
    names = sorted(p.name for p in generated)
    committed = sorted(p.name for p in COMMITTED.iterdir() if p.is_file())
    assert names == committed, "run: python scripts/gen_protos.py"
    stale = [n for n in names if not filecmp.cmp(tmp_path / "metalab/v1" / n, COMMITTED / n, False)]
    assert not stale, f"stale generated code {stale}: run python scripts/gen_protos.py"
