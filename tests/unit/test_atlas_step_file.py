"""A run's metrics.jsonl as Atlas reads it: whole-file parse, line by line when a line is bad."""

from __future__ import annotations

from pathlib import Path

from metalab_atlas.runfiles import RunFiles

RUN = "0" * 20


def steps_of(tmp_path: Path, text: str) -> dict[str, list[list[object]]]:
    run = tmp_path / "exp" / "runs" / RUN
    run.mkdir(parents=True)
    (run / "metrics.jsonl").write_text(text)
    return RunFiles(tmp_path).steps("exp", RUN)


def test_clean_file_last_line_per_step_wins(tmp_path: Path) -> None:
    text = "".join(
        f'{{"name": "loss", "step": {s}, "value": {v}}}\n'
        for s, v in [(1, 0.5), (0, 1.0), (1, 0.4)]
    )
    assert steps_of(tmp_path, text + "\n") == {"loss": [[0, 1.0], [1, 0.4]]}


def test_torn_and_odd_lines_are_skipped(tmp_path: Path) -> None:
    text = (
        '{"name": "loss", "step": 0, "value": 2}\n'
        "[1, 2]\n"
        '{"name": "acc", "step": 0}\n'
        '{"name": "loss", "step": 1, "value": 1}\n'
        '{"name": "loss", "st'
    )
    assert steps_of(tmp_path, text) == {"loss": [[0, 2], [1, 1]]}
