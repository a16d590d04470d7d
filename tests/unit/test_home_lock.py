"""One server per KILN_HOME, and a dead server's lock is free."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from kiln.home_lock import HomeLock

HOLD = """
import sys, time
from pathlib import Path
from kiln.home_lock import HomeLock
HomeLock(Path(sys.argv[1])).acquire()
print("locked", flush=True)
time.sleep(120)
"""


def test_a_second_server_is_refused_until_the_first_dies_even_by_kill_9(tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True
    ) as holder:
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline() == "locked\n"
            with pytest.raises(RuntimeError, match=f"another kiln server \\(pid {holder.pid}\\)"):
                HomeLock(tmp_path).acquire()
        finally:
            holder.send_signal(signal.SIGKILL)
    lock = HomeLock(tmp_path)
    lock.acquire()
    lock.release()


def test_a_released_lock_can_be_taken_again_in_the_same_process(tmp_path: Path) -> None:
    first = HomeLock(tmp_path)
    first.acquire()
    first.release()
    second = HomeLock(tmp_path)
    second.acquire()
    second.release()
