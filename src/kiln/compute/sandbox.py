"""Bubblewrap sandboxes: each process sealed in its own namespaces, its workspace at /opt/ml.

**An allow-list.** A sandbox mounts only what a process needs:

- read-only system paths: ``/usr``, ``/bin``, ``/sbin``, ``/lib*``, ``/etc``, ``/sys``, each
  entry of ``/opt`` (so that ``/opt/ml`` can be the workspace) and the file
  ``/etc/resolv.conf`` points at;
- read-only, the Python it runs: the server's (``sys.prefix``, ``sys.base_prefix``), kiln's own
  package folder (an editable install lives outside both) and what its spec names (the job's
  cached environment);
- read-write, its workspace at ``/opt/ml``; and a private ``/tmp``, ``/dev`` and ``/proc``.

Nothing else exists inside: no home folders, ``/root``, ``/var``, ``/run`` (the sockets of
the machine's daemons), ``/mnt``; no ``KILN_HOME`` with its database, credentials and other jobs'
workspaces. Why not the host's root minus masks (what Kiln did before): a mask list names only
the secrets someone thought of, so whatever the next person puts on the machine (a second
Kiln's home, a key in ``/root``, a socket in ``/run``) is open by default; an allow-list fails
closed, as a missing library rather than a leaked secret. Private paths (``KILN_HOME``, the
database's folder) are still masked where they lie under an allowed one, e.g. inside ``/opt``.

**No privileges.** The process keeps uid 0 but no capabilities (``--cap-drop ALL``; bwrap
always sets no_new_privs, so no setuid binary gives them back). Without capabilities root can
still read what root *owns*, so whatever in ``/etc`` only its owner or group may read
(``shadow``, ``gshadow``, ``ssl/private``, host keys) is masked.

**Its own processes.** ``--unshare-pid``: the sandbox's ``/proc`` shows only its own
processes, so the server's environment, its ``/proc/<pid>/root`` and its signals are out of
reach; bwrap is the namespace's init, and when the user's command ends the kernel kills
every process left in it. ``--new-session`` (no terminal to inject input into), private IPC.
The network is shared: jobs reach the API and the store on loopback.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from kiln.errors import SandboxUnavailableError

CONTAINER_ROOT = Path("/opt/ml")
SYSTEM_PATHS = tuple(
    Path(p)
    for p in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/sys")
)
_OPT = Path("/opt")
_RESOLV_CONF = Path("/etc/resolv.conf")
_FLAGS = ["--unshare-pid", "--unshare-ipc", "--new-session", "--cap-drop", "ALL"]
# bwrap covers these parts of its /proc read-only only where access(2) calls them writable.
# For uid 0 without capabilities it calls /proc/sys (0555) read-only, yet the files in it
# (0644, owned by root) still take that uid's writes: the host's hostname, kernel.core_pattern
# (a program the kernel runs as root: an escape), vm.*. So Kiln covers them itself.
_PROC_COVERS = [
    ("--ro-bind", "/proc/sys", "/proc/sys"),
    ("--ro-bind-try", "/proc/sysrq-trigger", "/proc/sysrq-trigger"),
]
INSTALL_HINT = (
    "install bubblewrap (apt-get install bubblewrap, dnf install bubblewrap, "
    "apk add bubblewrap) where it may create namespaces"
)


@dataclass(frozen=True)
class HostEntry:
    """What a path is on the host: ``dir``, ``file`` or ``link`` (``target`` as readlink says)."""

    kind: str
    target: str = ""


@dataclass(frozen=True)
class Exposure:
    """What one sandbox shows of the host (see the module docstring)."""

    system: Sequence[Path]
    environment: Sequence[Path]
    private: Sequence[Path]
    root_only: Sequence[Path]
    """Paths under ``/etc`` only their owner or group may read."""


def bwrap_binary() -> str | None:
    """The ``bwrap`` executable, or None where bubblewrap is not installed."""
    return shutil.which("bwrap")


def plan_mounts(
    host: dict[Path, HostEntry], exposure: Exposure, workspace: Path
) -> list[tuple[str, ...]]:
    """The bwrap mount operations, in order, for ``exposure`` of the paths ``host`` holds.

    Order matters: binds first, then masks over private and root-only paths that lie under a
    bind, then what is exposed *inside* a private path (a cached environment in
    ``KILN_HOME/envs``), the workspace, and last the root made read-only.
    """
    ops: list[tuple[str, ...]] = [("--proc", "/proc"), *_PROC_COVERS]
    ops += [("--dev", "/dev"), ("--tmpfs", "/tmp")]
    bound: list[Path] = []
    inside_private: list[tuple[str, ...]] = []
    for path in dict.fromkeys([*exposure.system, *exposure.environment]):
        entry = host.get(path)
        if entry is None:
            continue
        op = _expose(path, entry)
        if _is_within(path, exposure.private):
            inside_private.append(op)
        elif not _is_within(path, bound):
            ops.append(op)
            if entry.kind != "link":
                bound.append(path)
    masked_dirs = []
    for path in [*exposure.root_only, *exposure.private]:
        entry = host.get(path)
        if entry is None or entry.kind == "link" or not _is_within(path, bound):
            continue
        if entry.kind == "dir":
            ops.append(("--tmpfs", str(path)))
            masked_dirs.append(path)
        else:
            ops.append(("--ro-bind", "/dev/null", str(path)))
    ops += inside_private
    ops.append(("--bind", str(workspace), str(CONTAINER_ROOT)))
    ops += [("--remount-ro", str(path)) for path in masked_dirs]
    ops.append(("--remount-ro", "/"))
    return ops


def bwrap_argv(
    bwrap: str, mounts: Iterable[tuple[str, ...]], cwd: Path, argv: Sequence[str]
) -> list[str]:
    """The bwrap command line that runs ``argv`` in ``cwd`` behind ``mounts``."""
    args = [bwrap, *_FLAGS]
    for op in mounts:
        args += op
    return [*args, "--die-with-parent", "--chdir", str(cwd), "--", *argv]


def unsandboxed_reason(mode: str, bwrap: str | None, problem: str | None) -> str | None:
    """Why processes run without a sandbox (``KILN_SANDBOX``, bwrap's absence or failure),
    or None when they run in one."""
    if mode == "off":
        return "KILN_SANDBOX=off"
    if bwrap is None:
        return "bubblewrap (bwrap) is not installed"
    if problem is not None:
        return f"bwrap cannot create a sandbox here ({problem})"
    return None


def require_sandbox(mode: str, reason: str | None) -> None:
    """SandboxUnavailableError when ``KILN_SANDBOX=required`` and there is no sandbox."""
    if mode == "required" and reason is not None:
        raise SandboxUnavailableError(
            f"KILN_SANDBOX=required, but {reason}: {INSTALL_HINT}, "
            "or set KILN_SANDBOX=auto to run jobs unsandboxed"
        )


@cache
def bwrap_problem(bwrap: str) -> str | None:
    """What stops ``bwrap`` from sealing a process here (no namespaces allowed), or None;
    asked once per process, not by every server a process builds (tests build many)."""
    probe = [bwrap, *_FLAGS, "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "true"]
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        return str(e)
    if result.returncode != 0:
        return result.stderr.strip()[-300:] or f"exit status {result.returncode}"
    return None


def system_paths() -> list[Path]:
    """The system paths a sandbox shows: ``SYSTEM_PATHS``, ``/opt``'s entries, resolv.conf's
    target where it lies outside them (``/run/systemd/resolve/…``)."""
    paths = list(SYSTEM_PATHS)
    if _OPT.is_dir():
        paths += [entry for entry in sorted(_OPT.iterdir()) if entry != CONTAINER_ROOT]
    resolved = _RESOLV_CONF.resolve()
    if resolved != _RESOLV_CONF and resolved.exists():
        paths.append(resolved)
    return paths


def root_only_paths(folder: Path = Path("/etc")) -> list[Path]:
    """What in ``folder`` the world may not read: files, or folders it may not enter."""
    found = []
    for parent, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            path = Path(parent, name)
            try:
                mode = path.lstat().st_mode
            except OSError:
                continue
            if stat.S_ISLNK(mode):
                continue
            needed = stat.S_IROTH | (stat.S_IXOTH if stat.S_ISDIR(mode) else 0)
            if mode & needed != needed:
                found.append(path)
                if name in dirs:
                    dirs.remove(name)  # masked whole: nothing below needs a mask of its own
    return found


def survey(paths: Iterable[Path]) -> dict[Path, HostEntry]:
    """What each of ``paths`` is on this machine; missing ones are left out."""
    entries = {}
    for path in paths:
        try:
            mode = path.lstat().st_mode
        except OSError:
            continue
        if stat.S_ISLNK(mode):
            entries[path] = HostEntry("link", os.readlink(path))
        else:
            entries[path] = HostEntry("dir" if stat.S_ISDIR(mode) else "file")
    return entries


def _expose(path: Path, entry: HostEntry) -> tuple[str, ...]:
    if entry.kind == "link":
        return ("--symlink", entry.target, str(path))
    return ("--ro-bind", str(path), str(path))


def _is_within(path: Path, folders: Iterable[Path]) -> bool:
    return any(path == folder or path.is_relative_to(folder) for folder in folders)
