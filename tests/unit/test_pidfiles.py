"""Pid files, and when a recorded process is still ours to kill."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from kiln.pidfiles import (
    PidRecord,
    ProcessInfo,
    is_ours,
    process_info,
    read_pid_file,
    write_pid_file,
)

RECORD = PidRecord(pid=100, started=5000, marker="/home/k/storage")


def _process(
    pid: int = 100, started: int = 5000, args: tuple[str, ...] = (), cwd: str = "/"
) -> ProcessInfo:
    return ProcessInfo(pid, started, ("rclone", *args), cwd)


@pytest.mark.parametrize(
    ("processes", "ours"),
    [
        ([_process()], True),  # the same pid, started at the same time: the same process
        ([_process(started=9999)], False),  # the pid was reused by a stranger
        ([_process(started=9999, args=("serve", "/home/k/storage"))], True),  # serves our folder
        ([_process(101, 1, ("--model-dir", "/home/k/storage/model"))], True),  # below the marker
        ([_process(101, 1, ("/home/k/storage2",))], False),  # a sibling path is not ours
        ([_process(101, 1, cwd="/home/k/storage/algo-1")], True),
        ([], False),
    ],
)
def test_is_ours(processes: list[ProcessInfo], ours: bool) -> None:
    assert is_ours(RECORD, processes) is ours


def test_a_record_without_a_marker_matches_by_start_time_only() -> None:
    record = PidRecord(100, 5000, "")
    assert is_ours(record, [_process()])
    assert not is_ours(record, [_process(started=1, cwd="/")])


def test_a_written_pid_file_names_the_live_process(tmp_path: Path) -> None:
    sleeper = subprocess.Popen(["sleep", "60"], cwd=tmp_path)
    try:
        write_pid_file(tmp_path / "pids" / "x.json", sleeper.pid, str(tmp_path))
        record = read_pid_file(tmp_path / "pids" / "x.json")
        assert record is not None
        assert record.pid == sleeper.pid
        info = _after_exec(sleeper.pid, ("sleep", "60"))
        assert is_ours(record, [info])
    finally:
        sleeper.kill()
        sleeper.wait()
    assert process_info(sleeper.pid) is None


def test_an_unreadable_pid_file_is_no_record(tmp_path: Path) -> None:
    (tmp_path / "bad.json").write_text("{not json")
    assert read_pid_file(tmp_path / "bad.json") is None
    assert read_pid_file(tmp_path / "absent.json") is None


def _after_exec(pid: int, args: tuple[str, ...]) -> ProcessInfo:
    """The process once its new command line is in place: Popen returns when exec closes its
    close-on-exec pipe, a moment before the kernel has set up the new arguments."""
    deadline = time.monotonic() + 5
    while (info := process_info(pid)) is None or info.args != args:
        assert time.monotonic() < deadline, f"process {pid} shows {info}, not {args}"
        time.sleep(0.001)
    return info
