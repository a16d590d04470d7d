"""One server per ``KILN_HOME``: an exclusive lock on ``KILN_HOME/server.lock`` while it runs.

The kernel drops an ``flock`` when its process dies, however it dies (``kill -9`` included), so
a server that takes the lock knows no live server uses the home: whatever the last one left
running or on disk is a leftover, safe to reap and sweep. The file holds the holder's pid, for
the error a second server prints.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

_FILE = "server.lock"


class HomeLock:
    """The lock on one ``KILN_HOME``."""

    def __init__(self, home: Path) -> None:
        self._path = home / _FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock; RuntimeError naming the holder if another server has it."""
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise RuntimeError(
                f"another kiln server (pid {holder}) uses KILN_HOME {self._path.parent}; stop it "
                "or choose another KILN_HOME"
            ) from None
        self._fd = fd
        try:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        except OSError:
            pass  # a full disk: the lock holds all the same, only the error names no pid

    def release(self) -> None:
        """Give the lock up (closing the file releases it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
