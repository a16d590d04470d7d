"""``UpdateEndpoint``'s ``RetainAllVariantProperties``: what of the running endpoint survives.

With it, each variant of the new config that the endpoint already runs (same name) keeps its
current desired instance count and weight (set since by ``UpdateEndpointWeightsAndCapacities``
or autoscaling), and the endpoint keeps its data capture, except the properties named in
``ExcludeRetainedVariantProperties``, which come from the new config.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace

from kiln.services.hosting.shapes import Deployment, EndpointState, VariantSpec


def retained(new: Deployment, current: EndpointState, excluded: Collection[str]) -> Deployment:
    """``new`` with the current endpoint's variant properties kept, but for ``excluded``."""

    def keep(variant: VariantSpec) -> VariantSpec:
        numbers = current.variants.get(variant.name)
        if numbers is None:
            return variant
        fields = dict(variant.fields)
        if "DesiredInstanceCount" not in excluded:
            fields["InitialInstanceCount"] = numbers.desired_count
        if "DesiredWeight" not in excluded:
            fields["InitialVariantWeight"] = numbers.desired_weight
        return replace(
            variant,
            initial_count=int(fields.get("InitialInstanceCount", variant.initial_count)),
            initial_weight=float(fields.get("InitialVariantWeight", variant.initial_weight)),
            fields=fields,
        )

    capture = new.capture if "DataCaptureConfig" in excluded else current.deployment.capture
    return replace(
        new,
        variants=tuple(keep(v) for v in new.variants),
        shadows=tuple(keep(v) for v in new.shadows),
        capture=capture,
    )
