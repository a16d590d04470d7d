"""Placement groups: the hosts of one job are placed together, one bundle per host, spread over
the nodes (SPREAD: on different nodes where there are enough, on one node otherwise)."""

from __future__ import annotations

from ray.util.placement_group import (
    PlacementGroup,
    get_placement_group,
    placement_group,
    remove_placement_group,
)

from kiln.compute.ray.plans import Resources, bundle_of, group_name


class Groups:
    """The placement groups this server's handles use, with how many handles hold each."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[PlacementGroup, int]] = {}

    def hold(self, group: str, size: int, request: Resources) -> PlacementGroup:
        """The group's placement group (created once, detached, by its first host)."""
        if group in self._held:
            found, count = self._held[group]
            self._held[group] = (found, count + 1)
            return found
        found = _existing(group) or placement_group(
            [bundle_of(request)] * size,
            strategy="SPREAD",
            name=group_name(group),
            lifetime="detached",
        )
        self._held[group] = (found, 1)
        return found

    def attach(self, group: str) -> None:
        """A re-attached handle holds its group too (a restarted server's count starts here)."""
        if group in self._held:
            found, count = self._held[group]
            self._held[group] = (found, count + 1)
        elif (found_now := _existing(group)) is not None:
            self._held[group] = (found_now, 1)

    def release(self, group: str) -> None:
        """One handle less; the group's placement group goes with its last."""
        if group not in self._held:
            found = _existing(group)
            if found is not None:
                remove_placement_group(found)
            return
        found, count = self._held.pop(group)
        if count > 1:
            self._held[group] = (found, count - 1)
        else:
            remove_placement_group(found)


def _existing(group: str) -> PlacementGroup | None:
    # Detached groups are found by name in the driver's namespace (``kiln``).
    try:
        found: PlacementGroup = get_placement_group(group_name(group))
    except ValueError:
        return None
    return found
