"""The capacity policy as a table."""

from __future__ import annotations

import pytest

from kiln.services.capacity import NOTHING, Demand, can_ever_fit, fits

MACHINE = Demand(vcpus=4, memory_mib=16384)


@pytest.mark.parametrize(
    ("demand", "used", "expected"),
    [
        (Demand(2, 8192), NOTHING, True),  # half the machine, idle
        (Demand(2, 8192), Demand(2, 8192), True),  # 2 + 2 = 4 vCPUs, 8 + 8 = 16 GiB: exactly full
        (Demand(2, 8192), Demand(4, 0), False),  # no vCPU left
        (Demand(1, 9000), Demand(0, 8192), False),  # 8192 + 9000 > 16384 MiB
        (Demand(0, 0), MACHINE, True),  # nothing always fits
    ],
)
def test_fits(demand: Demand, used: Demand, expected: bool) -> None:
    assert fits(demand, used, MACHINE) is expected


@pytest.mark.parametrize(
    ("demand", "expected"),
    [(Demand(4, 16384), True), (Demand(8, 1), False), (Demand(1, 16385), False)],
)
def test_can_ever_fit(demand: Demand, expected: bool) -> None:
    assert can_ever_fit(demand, MACHINE) is expected
