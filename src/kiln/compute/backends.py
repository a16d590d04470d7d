"""The backend ``KILN_BACKEND`` names, and what it gives jobs and replicas to run on."""

from __future__ import annotations

from dataclasses import dataclass, replace

from kiln.compute.base import Backend
from kiln.compute.local import LocalBackend
from kiln.config import Settings


@dataclass(frozen=True)
class Room:
    """The settings sized to the backend (a host never gets more than its largest machine),
    and what all jobs together may use."""

    settings: Settings
    vcpus: int
    memory_mib: int
    gpus: int


def open_backend(settings: Settings, owner: str) -> Backend:
    """``LocalBackend`` or, with ``KILN_BACKEND=ray``, ``RayBackend`` (Ray imported only then);
    ``owner`` is the server's id, which a cluster's processes are named by."""
    if settings.backend == "ray":
        from kiln.compute.ray.backend import RayBackend

        return RayBackend(settings, owner)
    return LocalBackend(
        private=settings.private_paths,
        sandbox=settings.sandbox,
        pids_max=settings.pids_max,
        scope=settings.run_dir.name,
        stage_remotely=settings.stages_on_nodes,
    )


def room_of(backend: Backend, settings: Settings) -> Room:
    """This machine's ``KILN_CAPACITY_*`` locally; on Ray, the largest node per host and the
    live nodes' sum for the scheduler."""
    if settings.backend != "ray":
        return Room(
            settings, settings.capacity_vcpus, settings.capacity_memory_mib, settings.capacity_gpus
        )
    from kiln.compute.ray.backend import RayBackend

    assert isinstance(backend, RayBackend)
    largest, cluster = backend.largest_node(), backend.capacity()
    sized = replace(
        settings,
        capacity_vcpus=int(largest.vcpus),
        capacity_memory_mib=largest.memory_mib,
        capacity_gpus=int(largest.gpus),
    )
    return Room(sized, int(cluster.vcpus), cluster.memory_mib, int(cluster.gpus))
