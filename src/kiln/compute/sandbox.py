"""Bubblewrap sandboxes: each process in its own mount namespace, its workspace at /opt/ml.

The host's file system is visible read-only, ``KILN_HOME`` is hidden (so no job sees another's
workspace), ``/tmp`` is private, and only the workspace is writable. The network is shared: jobs
reach the store on loopback.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

CONTAINER_ROOT = Path("/opt/ml")


def bwrap_binary() -> str | None:
    """The ``bwrap`` executable, or None where bubblewrap is not installed."""
    return shutil.which("bwrap")


def bwrap_argv(
    bwrap: str,
    *,
    workspace: Path,
    hidden: Path,
    read_only: Sequence[Path],
    cwd: Path,
    argv: Sequence[str],
) -> list[str]:
    """The bwrap command line that runs ``argv`` with ``workspace`` bound at ``/opt/ml``."""
    args = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    args += _mount_point_for(CONTAINER_ROOT)
    args += ["--tmpfs", str(hidden)]
    for path in read_only:
        args += ["--ro-bind-try", str(path), str(path)]
    args += ["--bind", str(workspace), str(CONTAINER_ROOT), "--die-with-parent"]
    args += ["--chdir", str(cwd), "--", *argv]
    return args


def _mount_point_for(target: Path) -> list[str]:
    """Arguments that make ``target`` mountable on a read-only root.

    bwrap cannot create ``/opt/ml`` on the host's read-only root, so ``/opt`` becomes a tmpfs
    with each of its existing entries bound back in.
    """
    if target.exists():
        return []
    parent = target.parent
    args = ["--tmpfs", str(parent)]
    if parent.is_dir():
        for entry in sorted(parent.iterdir()):
            args += ["--ro-bind", str(entry), str(entry)]
    return args
