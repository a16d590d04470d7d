"""``RayBackend``: the compute seam on a Ray cluster (``KILN_BACKEND=ray``).

Each process is owned by a detached actor (``host.ProcessHost``) in namespace ``kiln``, named
after this server (``kiln/<server id>/<process>``), holding the process's CPUs, memory and GPUs;
a job's hosts share a SPREAD placement group, one bundle per host. The actor outlives this
server: ``attach`` finds it again by name, and a server taking a dead one's work over stops what
it left (``stop_left_by``). Workspaces live on the node at ``KILN_RAY_WORK_DIR/<server id>`` +
the workspace's path under ``KILN_HOME``; environments at ``KILN_RAY_WORK_DIR/envs``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray
from ray.exceptions import GetTimeoutError, RayActorError
from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

from kiln.compute.base import NODE_ENVS_VARIABLE, ProcessSpec
from kiln.compute.ray import connection
from kiln.compute.ray.groups import Groups, remove_left_by
from kiln.compute.ray.handle import RayProcess
from kiln.compute.ray.host import CONCURRENCY, ProcessHost
from kiln.compute.ray.plans import (
    MIB,
    NAMESPACE,
    Launch,
    Placed,
    RayRef,
    Resources,
    actor_name,
    node_path,
    node_resources,
    owner_of,
    request_of,
    shortfall,
    total,
)
from kiln.config import Settings
from kiln.errors import ResourceLimitError, ServiceUnavailableError

# How long a start may wait for its node's resources (a placement group being placed, an
# actor being scheduled and starting its worker) before it gives up.
START_SECONDS = 120.0
# How long stopping a dead server's process may take (SIGKILL at once, then the actor's answer).
STOP_SECONDS = 30.0

_Host = ray.remote(ProcessHost)


class RayBackend:
    """Starts processes on a Ray cluster's nodes."""

    def __init__(self, settings: Settings, owner: str) -> None:
        if settings.ray_address is None:
            raise ValueError("KILN_BACKEND=ray needs KILN_RAY_ADDRESS (host:port of the head)")
        connection.connect(settings.ray_address)
        self._owner = owner
        self._home = settings.home
        # Per server: two servers' (or installs') jobs of one name never share a folder.
        self._work_dir = settings.ray_work_dir / owner
        # Each node builds environments under its work dir, shared by every server's jobs.
        self._node_envs = settings.ray_work_dir / "envs"
        self._groups = Groups(owner)

    @property
    def name(self) -> str:
        """``ray``."""
        return "ray"

    @property
    def is_sandboxed(self) -> bool:
        """False: processes see their workspace at its node path, not ``/opt/ml``."""
        return False

    @property
    def stages_remotely(self) -> bool:
        """True: processes run on other nodes and stage their own files through S3."""
        return True

    def container_path(self, workspace: Path) -> Path:
        """Where ``workspace`` is on the node that runs its process."""
        return node_path(self._work_dir, self._home, workspace)

    def place(self, group: str, count: int, vcpus: int, memory_mib: int, gpus: int) -> list[str]:
        """Reserve a job's ``count`` hosts in one placement group; each one's node address."""
        request = Resources(vcpus, memory_mib, gpus)
        problem = shortfall(request, count, node_resources(ray.nodes()))
        if problem is not None:
            raise ResourceLimitError(f"{group}: {problem}")
        return self._groups.place(group, count, request, START_SECONDS)

    def capacity(self) -> Resources:
        """What the cluster's live nodes hold together."""
        return total(node_resources(ray.nodes()))

    def largest_node(self) -> Resources:
        """The most one host can get: the largest live node's CPUs, memory and GPUs."""
        nodes = node_resources(ray.nodes())
        return Resources(
            max((n.vcpus for n in nodes), default=0),
            max((n.memory_mib for n in nodes), default=0),
            max((n.gpus for n in nodes), default=0),
        )

    def start(self, spec: ProcessSpec) -> RayProcess:
        """Start ``spec``'s process under a new detached actor on a node that fits it."""
        request = request_of(spec)
        problem = shortfall(request, spec.group_size, node_resources(ray.nodes()))
        if problem is not None:
            raise ResourceLimitError(f"{spec.name}: {problem}")
        name = actor_name(self._owner, spec)
        actor = _Host.options(**self._options(spec, name, request)).remote()
        try:
            placed: Placed = ray.get(actor.start.remote(self._launch(spec)), timeout=START_SECONDS)
        except BaseException as error:
            ray.kill(actor, no_restart=True)
            if spec.group is not None:
                self._groups.release(spec.group)
            if isinstance(error, GetTimeoutError):
                raise ServiceUnavailableError(
                    f"{spec.name}: not placed on a Ray node within {START_SECONDS:.0f} s "
                    f"({request.vcpus:g} CPUs, {request.memory_mib} MiB, {request.gpus:g} GPUs "
                    "are not free yet)"
                ) from error
            raise
        ref = RayRef(name, NAMESPACE, placed.node_id, placed.host, placed.address, spec.group)
        return RayProcess(actor, ref, self._released)

    def attach(self, ref: str) -> RayProcess | None:
        """The process ``ref`` names, if its actor still lives; else None."""
        found = RayRef.load(ref)
        if found is None:
            return None
        try:
            actor = ray.get_actor(found.actor, namespace=found.namespace)
        except ValueError:
            return None
        if found.group is not None:
            self._groups.attach(found.group)
        return RayProcess(actor, found, self._released)

    def stop_left_by(self, servers: frozenset[str]) -> int:
        """Stop every process ``servers`` (gone: their leases ran out) started on the cluster,
        and free their placement groups; how many processes. Their actors are detached and
        would hold their nodes' resources for ever."""
        stopped = 0
        for name in ray.util.list_named_actors():  # this namespace's (``kiln``)
            if owner_of(name) not in servers:
                continue
            try:
                actor = ray.get_actor(name, namespace=NAMESPACE)
            except ValueError:
                continue  # gone meanwhile
            _stop_actor(actor)
            stopped += 1
        remove_left_by(servers)
        return stopped

    def clear_leftovers(self) -> list[Path]:
        """Nothing: a dead server's actors are found again by ``attach``."""
        return []

    def close(self) -> None:
        """Leave the cluster (the processes' actors live on: they are detached)."""
        connection.disconnect()

    def _options(self, spec: ProcessSpec, name: str, request: Resources) -> dict[str, Any]:
        options: dict[str, Any] = {
            "name": name,
            "namespace": NAMESPACE,
            "lifetime": "detached",
            "max_concurrency": CONCURRENCY,
            "num_cpus": request.vcpus,
            "memory": request.memory_mib * MIB,
            "num_gpus": request.gpus,
            "scheduling_strategy": "SPREAD",
        }
        if spec.group is not None:
            group, bundle = self._groups.hold(spec.group, spec.group_size, request)
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(group, bundle)
        return options

    def _launch(self, spec: ProcessSpec) -> Launch:
        return Launch(
            tuple(spec.argv),
            {NODE_ENVS_VARIABLE: str(self._node_envs), **spec.env},
            node_path(self._work_dir, self._home, spec.cwd),
            self.container_path(spec.workspace),
        )

    def _released(self, ref: RayRef) -> None:
        if ref.group is not None:
            self._groups.release(ref.group)


def _stop_actor(actor: Any) -> None:
    """Stop the actor's process group (its process runs in a session of its own, which killing
    the actor alone would leave running), then the actor."""
    try:
        ray.get(actor.stop.remote(0.0), timeout=STOP_SECONDS)
    except (RayActorError, GetTimeoutError):
        pass  # its node is gone or not answering: killing the actor is all that is left
    ray.kill(actor, no_restart=True)
