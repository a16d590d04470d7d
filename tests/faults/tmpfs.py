"""A small tmpfs to stand for a full disk: mounted as a fault's KILN_HOME, unmounted after."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def mount_tmpfs(path: Path, mib: int) -> str | None:
    """Mount a ``mib`` MiB tmpfs at ``path``; None, or why it could not be mounted."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return "mounting a tmpfs needs root (the suite runs as an ordinary user here)"
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={mib}m,mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"mount -t tmpfs was refused here: {done.stderr.strip() or done.returncode}"
    return None


def unmount(path: Path) -> None:
    """Unmount ``path`` (lazily if something still holds it open)."""
    done = subprocess.run(["umount", str(path)], capture_output=True, check=False)
    if done.returncode != 0:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def free_mib(path: Path) -> float:
    """Free space of the file system holding ``path``, in MiB."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize / (1 << 20)
