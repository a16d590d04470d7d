"""The Ray backend's decisions, as pure functions: resources, workspaces, listening, names."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kiln.compute.base import LISTEN, ProcessSpec

MIB = 1024 * 1024
NAMESPACE = "kiln"


@dataclass(frozen=True)
class Resources:
    """CPUs, memory and GPUs: a node's, a cluster's or a request's."""

    vcpus: float
    memory_mib: int
    gpus: float = 0

    def covers(self, request: Resources) -> bool:
        """Whether ``request`` fits within these resources."""
        return (
            self.vcpus >= request.vcpus
            and self.memory_mib >= request.memory_mib
            and self.gpus >= request.gpus
        )


def request_of(spec: ProcessSpec) -> Resources:
    """What ``spec`` asks of one node."""
    return Resources(spec.vcpus, spec.memory_mib, spec.gpus)


def bundle_of(request: Resources) -> dict[str, float]:
    """A placement-group bundle (Ray's resource names; memory in bytes) for ``request``."""
    bundle = {"CPU": float(request.vcpus), "memory": float(request.memory_mib * MIB)}
    if request.gpus:
        bundle["GPU"] = float(request.gpus)
    return bundle


def node_resources(nodes: Iterable[Mapping[str, Any]]) -> list[Resources]:
    """The totals of the live nodes in ``ray.nodes()``'s answer."""
    return [
        Resources(
            float(node["Resources"].get("CPU", 0)),
            int(node["Resources"].get("memory", 0)) // MIB,
            float(node["Resources"].get("GPU", 0)),
        )
        for node in nodes
        if node.get("Alive")
    ]


def total(nodes: Sequence[Resources]) -> Resources:
    """What ``nodes`` hold together."""
    return Resources(
        sum(node.vcpus for node in nodes),
        sum(node.memory_mib for node in nodes),
        sum(node.gpus for node in nodes),
    )


def copies(request: Resources, node: Resources) -> int:
    """How many hosts of size ``request`` ``node`` holds at once."""
    counts = [node.vcpus // request.vcpus if request.vcpus else float("inf")]
    counts.append(node.memory_mib // request.memory_mib if request.memory_mib else float("inf"))
    counts.append(node.gpus // request.gpus if request.gpus else float("inf"))
    fewest = min(counts)
    return 1_000_000 if fewest == float("inf") else int(fewest)


def shortfall(request: Resources, hosts: int, nodes: Sequence[Resources]) -> str | None:
    """Why the cluster can never hold ``hosts`` hosts of size ``request`` at once (each host on
    one node, as its placement group's bundles are); None if it can."""
    if sum(copies(request, node) for node in nodes) >= hosts:
        return None
    listed = ", ".join(f"{n.vcpus:g} CPUs/{n.memory_mib} MiB/{n.gpus:g} GPUs" for n in nodes)
    what = (
        "no node of the Ray cluster can hold"
        if hosts == 1
        else f"the Ray cluster cannot hold {hosts} hosts of"
    )
    return (
        f"{what} {request.vcpus:g} CPUs, {request.memory_mib} MiB and {request.gpus:g} GPUs "
        f"(its nodes: {listed or 'none alive'})"
    )


def node_path(work_dir: Path, home: Path, path: Path) -> Path:
    """Where ``path`` under ``home`` (a workspace) lives on a node: the same relative path under
    ``work_dir``, so every node and every server agrees; a path elsewhere, or one already on
    the node (``work_dir`` may lie under ``home``), stays as it is."""
    if path.is_relative_to(work_dir):
        return path
    try:
        return work_dir / path.relative_to(home)
    except ValueError:
        return path


def listening(argv: Sequence[str], host: str, port: int) -> list[str]:
    """``argv`` with :data:`LISTEN` replaced by ``--port P --host H``."""
    at = list(argv).index(LISTEN)
    return [*argv[:at], "--port", str(port), "--host", host, *argv[at + 1 :]]


def actor_name(owner: str, spec: ProcessSpec) -> str:
    """The detached actor's name: ``kiln/<owner>/<process name>``, ``owner`` the id of the server
    that started it (unique while the process is, whichever servers and installs share the
    cluster; a server that takes a dead one's work over finds what it left by this prefix)."""
    return f"kiln/{owner}/{spec.name}"


def group_name(owner: str, group: str) -> str:
    """A job's placement group's name, its server's as an actor's (``kiln/<owner>/<job>``)."""
    return f"kiln/{owner}/{group}"


def owner_of(name: str) -> str | None:
    """The server id in an actor's or a placement group's name; None for a name not Kiln's."""
    prefix, _, rest = name.partition("/")
    owner, _, item = rest.partition("/")
    return owner if prefix == "kiln" and owner and item else None


@dataclass(frozen=True)
class RayRef:
    """What a Ray-run process is known by: its actor, and where it was when it started."""

    actor: str
    namespace: str
    node_id: str
    host: str
    address: str | None = None
    group: str | None = None

    def dump(self) -> str:
        """The stored form."""
        return json.dumps({"backend": "ray", **asdict(self)})

    @classmethod
    def load(cls, ref: str) -> RayRef | None:
        """The ref ``dump`` wrote; None for another backend's or a malformed one."""
        try:
            fields = json.loads(ref)
            if fields.pop("backend") != "ray":
                return None
            return cls(**fields)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


@dataclass(frozen=True)
class Launch:
    """What the actor on a node runs: ``argv`` (with :data:`LISTEN` for a replica) in ``cwd``."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    cwd: Path
    workspace: Path

    @property
    def listens(self) -> bool:
        """Whether the process serves on a port the actor picks."""
        return LISTEN in self.argv


@dataclass(frozen=True)
class Placed:
    """Where the actor runs its process: the node's Ray id and address, the process's own."""

    node_id: str
    host: str
    address: str | None
