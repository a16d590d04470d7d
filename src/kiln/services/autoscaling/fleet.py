"""The scaler's view of hosting: a variant's status and counts, and the way to change them."""

from __future__ import annotations

from kiln.db import ResourceStore
from kiln.services.autoscaling.signals import VariantNow
from kiln.services.autoscaling.targets import VariantRef
from kiln.services.hosting.routing import RoutingTable
from kiln.services.hosting.service import HostingService, endpoint_state


class HostingFleet:
    """Reads variants from the endpoints' records and the routing table; sets counts through
    ``HostingService.set_instance_count`` (UpdateEndpointWeightsAndCapacities' path)."""

    def __init__(
        self, endpoints: ResourceStore, hosting: HostingService, routing: RoutingTable
    ) -> None:
        self._endpoints = endpoints
        self._hosting = hosting
        self._routing = routing

    def variant_now(self, ref: VariantRef) -> VariantNow | None:
        """The production variant ``ref`` now; None when the endpoint or variant is gone."""
        record = self._endpoints.get(ref.endpoint)
        if record is None:
            return None
        state = endpoint_state(record)
        numbers = state.variants.get(ref.variant)
        if state.deployment.variant(ref.variant) is None or numbers is None:
            return None
        if any(shadow.name == ref.variant for shadow in state.deployment.shadows):
            return None  # Application Auto Scaling scales production variants only
        route = self._routing.get(ref.endpoint)
        found = None if route is None else route.variant(ref.variant)
        replicas = () if found is None else found.replicas
        return VariantNow(
            status=record.status,
            desired=numbers.desired_count,
            current=numbers.current_count,
            serving=sum(1 for r in replicas if r.is_healthy),
            outstanding=sum(r.outstanding for r in replicas),
            failure_reason=state.failure_reason,
        )

    def set_instance_count(self, endpoint: str, variant: str, count: int) -> None:
        """Ask for ``count`` instances of ``variant``."""
        self._hosting.set_instance_count(endpoint, variant, count)

    def exists(self, ref: VariantRef) -> bool:
        """Whether ``ref`` names a production variant of an existing endpoint."""
        return self.variant_now(ref) is not None
