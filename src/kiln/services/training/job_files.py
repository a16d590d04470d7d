"""Files a job wrote, read by the server without following the job's links out of its folder.

The server runs with more rights than a job: a job that leaves ``/opt/ml/output/failure`` or a
checkpoint as a symbolic link to ``KILN_HOME/credentials.json`` (or swaps a folder for such a
link while the server reads) would have the server copy that file where the job can read it.
So such a file is opened once, without following a final link, and kept only if it is a
regular file whose real path (``/proc/self/fd``) still lies inside the folder; then it is read
through that open descriptor.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def pinned(folder: Path, path: Path) -> Iterator[Path | None]:
    """A path that names the regular file at ``path`` inside ``folder`` for as long as the
    block runs, whatever the job renames meanwhile; None if it is not one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        yield None
        return
    try:
        handle = Path(f"/proc/self/fd/{fd}")
        real = Path(os.readlink(handle))
        is_inside = real.is_relative_to(folder.resolve())
        yield handle if is_inside and stat.S_ISREG(os.fstat(fd).st_mode) else None
    finally:
        os.close(fd)


def read_text(folder: Path, path: Path, limit: int) -> str | None:
    """The first ``limit`` characters of the regular file at ``path`` inside ``folder``."""
    with pinned(folder, path) as handle:
        if handle is None:
            return None
        with open(handle, errors="replace") as f:
            return f.read(limit)
