"""RetainAllVariantProperties: the running endpoint's counts, weights and capture survive."""

from __future__ import annotations

from kiln.services.hosting.retained import retained
from kiln.services.hosting.shapes import Deployment, EndpointState, VariantNumbers, VariantSpec


def _variant(name: str, count: int, weight: float) -> VariantSpec:
    fields = {"VariantName": name, "InitialInstanceCount": count, "InitialVariantWeight": weight}
    return VariantSpec(name, "ml.m5.large", count, weight, {}, None, fields)


CURRENT = EndpointState(
    Deployment("old", (_variant("A", 1, 1.0),)), {"A": VariantNumbers(0.5, 0.5, 3, 3)}
)
NEW = Deployment("new", (_variant("A", 1, 1.0), _variant("B", 2, 2.0)))


def test_a_variant_already_running_keeps_its_count_and_weight() -> None:
    kept = retained(NEW, CURRENT, set()).variants

    assert [(v.name, v.initial_count, v.initial_weight) for v in kept] == [
        ("A", 3, 0.5),
        ("B", 2, 2.0),
    ]
    assert kept[0].fields["InitialInstanceCount"] == 3


def test_an_excluded_property_comes_from_the_new_config() -> None:
    (a, _) = retained(NEW, CURRENT, {"DesiredInstanceCount"}).variants

    assert (a.initial_count, a.initial_weight) == (1, 0.5)
