"""Routes as the owner publishes them for the other servers' data planes."""

from __future__ import annotations

import json

from kiln.services.cluster.route_codec import addresses_of, route_from_json, route_to_json
from kiln.services.hosting.invocations import CaptureConfig
from kiln.services.hosting.routing import EndpointRoute, ReplicaAddress, ShadowRoute, VariantRoute


def _route() -> EndpointRoute:
    a, b = ReplicaAddress("/run/a.sock", "v1", replica_id="a"), ReplicaAddress("/run/b.sock", "v2")
    sick = ReplicaAddress("/run/sick.sock", "v1", is_healthy=False)
    capture = CaptureConfig(50, "s3://c/p", True, False, frozenset({"text/csv"}), frozenset())
    return EndpointRoute.build(
        "e",
        [VariantRoute("v1", 0.7, (a, sick)), VariantRoute("v2", 0.3, (), (b,), 0.5)],
        [ShadowRoute("s", 0.1, (ReplicaAddress("tcp://10.0.0.2:9000", "s"),))],
        capture,
    )


def test_a_route_survives_json_less_its_unhealthy_replicas() -> None:
    data = json.loads(json.dumps(route_to_json(_route())))
    route = route_from_json("e", data, {})
    assert [r.location for r in route.variants[0].replicas] == ["/run/a.sock"]
    assert route.variants[0].replicas[0].replica_id == "a"
    assert [r.location for r in route.variants[1].green] == ["/run/b.sock"]
    assert route.variants[1].green_share == 0.5
    assert route.shadows[0].replicas[0].location == "tcp://10.0.0.2:9000"
    assert route.capture == _route().capture
    assert route._cumulative == (0.7, 1.0)


def test_a_refreshed_route_keeps_the_addresses_and_their_outstanding_counts() -> None:
    first = route_from_json("e", route_to_json(_route()), {})
    first.variants[0].replicas[0].outstanding = 3
    again = route_from_json("e", route_to_json(_route()), addresses_of(first))
    assert again.variants[0].replicas[0] is first.variants[0].replicas[0]
    assert again.variants[0].replicas[0].outstanding == 3
