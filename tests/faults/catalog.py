"""Every fault, its family, what it does, and which profiles run it."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from . import bombs, crashes, disk, replicas, store
from .lab import Lab
from .results import Outcome

BOTH = frozenset({"short", "long"})
LONG = frozenset({"long"})


@dataclass(frozen=True)
class Fault:
    """One scripted fault: a plain function of a ``Lab`` returning an ``Outcome``."""

    name: str
    family: str
    does: str
    run: Callable[[Lab], Outcome]
    profiles: frozenset[str] = BOTH
    server_env: Mapping[str, str] = field(default_factory=dict)
    tmpfs_mib: int | None = None  # KILN_HOME on a tmpfs of this size
    missing: Callable[[], str | None] = lambda: None  # why this machine cannot run it


FAULTS: tuple[Fault, ...] = (
    Fault(
        "kill-server-mid-training",
        "server",
        "kill -9 the server while two jobs train (one with checkpoints); restart it",
        crashes.kill_server_mid_training,
    ),
    Fault(
        "kill-server-mid-upload",
        "server",
        "kill -9 the server while a job uploads its model; restart it",
        crashes.kill_server_mid_upload,
        LONG,
    ),
    Fault(
        "kill-server-under-load",
        "server",
        "kill -9 the server under invocation load on two replicas; restart it",
        crashes.kill_server_under_load,
        LONG,
    ),
    Fault(
        "kill-server-while-creating",
        "server",
        "kill -9 the server while an endpoint's replica loads; restart it",
        crashes.kill_server_while_creating,
        LONG,
    ),
    Fault(
        "kill-replica-under-load",
        "replicas",
        "kill -9 one of two replicas under invocation load (long: three times)",
        replicas.kill_replica_under_load,
    ),
    Fault(
        "hang-replica-under-load",
        "replicas",
        "SIGSTOP one of two replicas under invocation load (long: three times)",
        replicas.hang_replica_under_load,
        LONG,
    ),
    Fault(
        "kill-store-mid-download",
        "store",
        "kill -9 the embedded store while a job downloads its channel",
        store.kill_store_mid_download,
        LONG,  # CI: tests/integration/test_store_restarts.py kills it mid-download too
    ),
    Fault(
        "kill-store-mid-upload",
        "store",
        "kill -9 the embedded store while it receives a job's model",
        store.kill_store_mid_upload,
        LONG,
    ),
    Fault(
        "kill-store-while-replica-downloads",
        "store",
        "kill -9 the embedded store while a replica downloads its model",
        store.kill_store_while_replica_downloads,
        LONG,
    ),
    Fault(
        "job-fills-the-disk",
        "disk",
        f"KILN_HOME on a {disk.TMPFS_MIB} MiB tmpfs; a job writes until it is full",
        disk.job_fills_the_disk,
        LONG,
        tmpfs_mib=disk.TMPFS_MIB,
    ),
    Fault(
        "object-beyond-free-space",
        "disk",
        f"KILN_HOME on a {disk.TMPFS_MIB} MiB tmpfs; PutObject of {disk.TMPFS_MIB + 32} MiB",
        disk.object_beyond_free_space,
        LONG,
        tmpfs_mib=disk.TMPFS_MIB,
    ),
    Fault(
        "tar-bomb-source",
        "bombs",
        "a job's sourcedir.tar.gz expands to 1.5 GiB; VolumeSizeInGB=1",
        bombs.tar_bomb_source,
    ),
    Fault(
        "tar-bomb-model",
        "bombs",
        "an endpoint's model.tar.gz expands to 1.5 GiB; the variant's VolumeSizeInGB=1",
        bombs.tar_bomb_model,
        LONG,
    ),
    Fault(
        "fork-bomb",
        "bombs",
        f"a job forks until it cannot (KILN_PIDS_MAX={bombs.PIDS_MAX}); half its children setsid",
        bombs.fork_bomb,
        LONG,  # CI: tests/integration/test_job_limits.py runs a fork bomb too
        server_env={"KILN_PIDS_MAX": str(bombs.PIDS_MAX)},
        missing=bombs.cgroups_missing,
    ),
    Fault(
        "memory-bomb",
        "bombs",
        f"a job and a model_fn allocate until killed (KILN_CAPACITY_MEMORY_MIB={bombs.MEMORY_MIB})",
        bombs.memory_bomb,
        LONG,
        server_env={"KILN_CAPACITY_MEMORY_MIB": str(bombs.MEMORY_MIB)},
        missing=bombs.cgroups_missing,
    ),
)


def faults_for(profile: str, only: Sequence[str] = ()) -> list[Fault]:
    """The faults ``profile`` runs, narrowed to ``only`` (names) when given."""
    unknown = set(only) - {f.name for f in FAULTS}
    if unknown:
        raise ValueError(f"unknown fault(s) {sorted(unknown)}: see --list")
    if only:
        return [f for f in FAULTS if f.name in only]
    return [f for f in FAULTS if profile in f.profiles]
