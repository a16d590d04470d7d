"""Log writing that outlasts a full disk: dropped lines counted, torn lines cut."""

from __future__ import annotations

import errno
import subprocess
import sys
import textwrap
from pathlib import Path

from kiln.services.logs import FileLogStore
from kiln.services.logs.tolerant import TolerantWriter, dropped_note

GROUP = "/aws/sagemaker/TrainingJobs"
NO_SPACE = OSError(errno.ENOSPC, "No space left on device")


class _DiskWeFill:
    """A stream writer over a disk the test fills and frees at will (the real full disk is
    tests/integration/test_full_disk.py's: a tmpfs cannot be mounted everywhere)."""

    def __init__(self) -> None:
        self.is_full = False
        self.lines: list[str] = []

    def write(self, message: str) -> None:
        if self.is_full:
            raise NO_SPACE
        self.lines.append(message)

    def close(self) -> None:
        pass


def test_note_says_how_many_lines_and_why() -> None:
    assert dropped_note(1, "No space left on device") == (
        "[kiln] 1 log line dropped: no space left on device"
    )
    assert dropped_note(123, "Disk quota exceeded").startswith("[kiln] 123 log lines dropped")


def test_lines_the_disk_refuses_are_counted_and_noted_before_the_next_one() -> None:
    disk = _DiskWeFill()
    writer = TolerantWriter(lambda: disk, "s")
    writer.write("before")
    disk.is_full = True
    for i in range(3):
        writer.write(f"lost {i}")
    assert writer.dropped == 3
    disk.is_full = False
    writer.write("after")
    assert disk.lines == ["before", dropped_note(3, "No space left on device"), "after"]
    assert writer.dropped == 0


def test_a_stream_that_cannot_be_opened_yet_is_opened_by_a_later_line() -> None:
    disk, attempts = _DiskWeFill(), []

    def open_stream() -> _DiskWeFill:
        attempts.append(1)
        if len(attempts) == 1:
            raise NO_SPACE  # the stream's file could not even be created
        return disk

    writer = TolerantWriter(open_stream, "s")
    writer.write("lost")
    writer.write("kept")
    assert disk.lines == [dropped_note(1, "No space left on device"), "kept"]


def test_a_write_the_file_size_limit_cuts_short_leaves_no_torn_line(tmp_path: Path) -> None:
    # RLIMIT_FSIZE makes the kernel write part of a record and refuse the rest (EFBIG), as a
    # disk filling mid-record does; it is set in a child so that pytest keeps its own limits.
    script = textwrap.dedent(
        f"""
        import resource, signal
        from pathlib import Path
        from kiln.services.logs import FileLogStore
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        writer = FileLogStore(Path({str(tmp_path)!r})).open_stream({GROUP!r}, "s")
        writer.write("first")
        size = sum(f.stat().st_size for f in Path({str(tmp_path)!r}).rglob("*.log"))
        resource.setrlimit(resource.RLIMIT_FSIZE, (size + 10, size + 10))
        try:
            writer.write("x" * 100)
        except OSError as e:
            print(e.errno)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.stdout.strip() == str(errno.EFBIG), done.stderr
    store = FileLogStore(tmp_path)
    store.open_stream(GROUP, "s").write("second")
    messages = [e.event.message for e in store.read(GROUP, "s", 0, 10)]
    assert messages == ["first", "second"]
