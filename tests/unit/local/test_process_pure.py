"""Pure pieces of the process module: /proc parsing, identity, waiting, tailing."""

from __future__ import annotations

import os
import time

from metalab_orchestrator.runtime.process import (
    ProcessRecord,
    ProcStat,
    is_alive,
    is_same_live_process,
    parse_proc_stat,
    read_proc_stat,
    tail,
    wait_for,
)

# Field 22 (starttime) is 123456; the command name holds spaces and parentheses.
STAT = (
    "4242 (we ird) (name)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 "
    "1000000 200 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0"
)


def test_parse_proc_stat_handles_spaces_and_parens_in_comm():
    assert parse_proc_stat(STAT) == ProcStat(state="S", ppid=1, pgid=4242, start_time=123456)


def test_same_start_time_and_running_is_alive():
    record = ProcessRecord(pid=4242, start_time=123456, pgid=4242)
    assert is_same_live_process(record, ProcStat("S", 1, 4242, 123456))
    assert is_same_live_process(record, ProcStat("R", 1, 4242, 123456))


def test_reused_pid_is_not_the_recorded_process():
    record = ProcessRecord(pid=4242, start_time=123456, pgid=4242)
    assert not is_same_live_process(record, ProcStat("S", 1, 4242, 999999))


def test_missing_or_zombie_process_is_dead():
    record = ProcessRecord(pid=4242, start_time=123456, pgid=4242)
    assert not is_same_live_process(record, None)
    assert not is_same_live_process(record, ProcStat("Z", 1, 4242, 123456))
    assert not is_same_live_process(record, ProcStat("X", 1, 4242, 123456))


def test_is_alive_for_this_process_and_a_wrong_start_time():
    me = read_proc_stat(os.getpid())
    assert me is not None
    assert is_alive(ProcessRecord(os.getpid(), me.start_time, me.pgid))
    assert not is_alive(ProcessRecord(os.getpid(), me.start_time + 1, me.pgid))


def test_wait_for_returns_as_soon_as_the_predicate_holds():
    calls = []

    def third_time() -> bool:
        calls.append(time.monotonic())
        return len(calls) == 3

    assert wait_for(third_time, timeout=5.0)
    assert len(calls) == 3
    # the backoff starts near 10 ms, not at a coarse fixed sleep
    assert calls[1] - calls[0] < 0.1


def test_wait_for_times_out_and_checks_at_the_deadline():
    calls: list[float] = []

    def never() -> bool:
        calls.append(time.monotonic())
        return False

    assert not wait_for(never, timeout=0.05)
    assert len(calls) >= 2


def test_tail_returns_last_lines_and_empty_for_missing(tmp_path):
    log = tmp_path / "x.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    assert tail(log, 3) == "line 97\nline 98\nline 99"
    assert tail(tmp_path / "missing.log") == ""
