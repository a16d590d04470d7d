"""An endpoint's route as JSON, for the servers that do not own it (``endpoint_owners.route``).

The owner writes what its data plane would use: each variant's weight and replica addresses
(opaque strings: a Unix socket path today, ``tcp://host:port`` on a cluster), the rollout's green
replicas, shadows and data capture. Only healthy replicas are written. A reader keeps the
``ReplicaAddress`` it already has for an address, so its own count of outstanding requests
survives a refresh.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln.services.hosting.invocations import CaptureConfig
from kiln.services.hosting.routing import EndpointRoute, ReplicaAddress, ShadowRoute, VariantRoute


def route_to_json(route: EndpointRoute) -> dict[str, Any]:
    """``route`` as JSON values."""
    return {
        "variants": [
            {
                "name": v.name,
                "weight": v.weight,
                "replicas": _addresses(v.replicas),
                "green": _addresses(v.green),
                "green_share": v.green_share,
                "is_scaled_to_zero": v.is_scaled_to_zero,
            }
            for v in route.variants
        ],
        "shadows": [
            {"name": s.name, "fraction": s.fraction, "replicas": _addresses(s.replicas)}
            for s in route.shadows
        ],
        "capture": None if route.capture is None else _capture_to_json(route.capture),
    }


def route_from_json(
    name: str, data: Mapping[str, Any], known: Mapping[str, ReplicaAddress]
) -> EndpointRoute:
    """The route ``route_to_json`` wrote, reusing ``known`` addresses (location → address)."""

    def addresses(items: list[dict[str, str]], variant: str) -> tuple[ReplicaAddress, ...]:
        return tuple(
            known.get(item["location"])
            or ReplicaAddress(item["location"], variant, replica_id=item["replica_id"])
            for item in items
        )

    variants = [
        VariantRoute(
            v["name"],
            float(v["weight"]),
            addresses(v["replicas"], v["name"]),
            addresses(v["green"], v["name"]),
            float(v["green_share"]),
            bool(v["is_scaled_to_zero"]),
        )
        for v in data["variants"]
    ]
    shadows = [
        ShadowRoute(s["name"], float(s["fraction"]), addresses(s["replicas"], s["name"]))
        for s in data["shadows"]
    ]
    capture = data.get("capture")
    return EndpointRoute.build(
        name, variants, shadows, None if capture is None else _capture_from_json(capture)
    )


def addresses_of(route: EndpointRoute) -> dict[str, ReplicaAddress]:
    """Every replica address in ``route``, by location."""
    found: dict[str, ReplicaAddress] = {}
    for v in route.variants:
        for address in (*v.replicas, *v.green):
            found[address.location] = address
    for s in route.shadows:
        for address in s.replicas:
            found[address.location] = address
    return found


def _addresses(replicas: tuple[ReplicaAddress, ...]) -> list[dict[str, str]]:
    return [{"location": r.location, "replica_id": r.replica_id} for r in replicas if r.is_healthy]


def _capture_to_json(capture: CaptureConfig) -> dict[str, Any]:
    return {
        "sampling_percentage": capture.sampling_percentage,
        "destination": capture.destination,
        "capture_input": capture.capture_input,
        "capture_output": capture.capture_output,
        "csv_content_types": sorted(capture.csv_content_types),
        "json_content_types": sorted(capture.json_content_types),
    }


def _capture_from_json(data: Mapping[str, Any]) -> CaptureConfig:
    return CaptureConfig(
        int(data["sampling_percentage"]),
        str(data["destination"]),
        bool(data["capture_input"]),
        bool(data["capture_output"]),
        frozenset(data["csv_content_types"]),
        frozenset(data["json_content_types"]),
    )
