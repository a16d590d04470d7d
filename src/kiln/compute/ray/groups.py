"""Placement groups: the hosts of one job are placed together, one bundle per host, spread over
the nodes (SPREAD: on different nodes where there are enough, on one node otherwise).

``place`` reserves a job's bundles before its hosts start and says which node holds each, so
every host can be told the others' addresses (``SM_HOSTS``, ``MASTER_ADDR``); the hosts then
start in rank order and host *i* takes bundle *i*.
"""

from __future__ import annotations

from dataclasses import dataclass

import ray
from ray.exceptions import GetTimeoutError
from ray.util.placement_group import (
    PlacementGroup,
    get_placement_group,
    placement_group,
    placement_group_table,
    remove_placement_group,
)

from kiln.compute.ray.plans import Resources, bundle_of, group_name, owner_of
from kiln.errors import ServiceUnavailableError


@dataclass
class _Held:
    group: PlacementGroup
    started: int = 0
    handles: int = 0


class Groups:
    """The placement groups this server's hosts use: how many started, how many handles hold."""

    def __init__(self, owner: str) -> None:
        self._owner = owner
        self._held: dict[str, _Held] = {}

    def place(self, group: str, size: int, request: Resources, timeout: float) -> list[str]:
        """Reserve ``size`` bundles of ``request``; the address of the node holding each."""
        held = self._make(group, size, request)
        try:
            ray.get(held.group.ready(), timeout=timeout)
        except GetTimeoutError as error:
            self._forget(group)
            raise ServiceUnavailableError(
                f"{group}: {size} hosts of {request.vcpus:g} CPUs, {request.memory_mib} MiB and "
                f"{request.gpus:g} GPUs not placed on the Ray cluster within {timeout:.0f} s "
                "(not free yet)"
            ) from error
        nodes = placement_group_table(held.group)["bundles_to_node_id"]
        addresses = {node["NodeID"]: node["NodeManagerAddress"] for node in ray.nodes()}
        return [str(addresses[nodes[index]]) for index in range(size)]

    def hold(self, group: str, size: int, request: Resources) -> tuple[PlacementGroup, int]:
        """The group's placement group and the bundle of the host starting now (in rank order)."""
        held = self._make(group, size, request)
        index = held.started % size
        held.started += 1
        held.handles += 1
        return held.group, index

    def attach(self, group: str) -> None:
        """A re-attached handle holds its group too (a restarted server's count starts here)."""
        if group not in self._held:
            found = self._existing(group)
            if found is None:
                return
            self._held[group] = _Held(found)
        self._held[group].handles += 1

    def release(self, group: str) -> None:
        """One handle less; the group's placement group goes with its last."""
        held = self._held.get(group)
        if held is not None:
            held.handles -= 1
            if held.handles > 0:
                return
        self._forget(group)

    def _make(self, group: str, size: int, request: Resources) -> _Held:
        if group not in self._held:
            found = self._existing(group) or placement_group(
                [bundle_of(request)] * size,
                strategy="SPREAD",
                name=group_name(self._owner, group),
                lifetime="detached",
            )
            self._held[group] = _Held(found)
        return self._held[group]

    def _forget(self, group: str) -> None:
        held = self._held.pop(group, None)
        found = held.group if held is not None else self._existing(group)
        if found is not None:
            remove_placement_group(found)

    def _existing(self, group: str) -> PlacementGroup | None:
        return _named(group_name(self._owner, group))


def remove_left_by(servers: frozenset[str]) -> None:
    """Remove the placement groups that ``servers`` made and left."""
    for entry in placement_group_table().values():
        if entry.get("state") == "REMOVED" or owner_of(entry.get("name", "")) not in servers:
            continue
        if (found := _named(entry["name"])) is not None:
            remove_placement_group(found)


def _named(name: str) -> PlacementGroup | None:
    # Detached groups are found by name in the driver's namespace (``kiln``).
    try:
        found: PlacementGroup = get_placement_group(name)
    except ValueError:
        return None
    return found
