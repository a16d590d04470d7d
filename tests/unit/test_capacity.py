"""The capacity policy as a table."""

from __future__ import annotations

import pytest

from kiln.config import Settings
from kiln.instance_types import InstanceType
from kiln.services.capacity import (
    NOTHING,
    Demand,
    can_ever_fit,
    clamp,
    demand_of,
    fits,
    machine_name,
    memory_text,
    out_of_memory_reason,
    shortfall,
)

MACHINE = Demand(vcpus=4, memory_mib=16384, gpus=0)


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


@pytest.mark.parametrize(
    ("demand", "expected"),
    [
        (Demand(2, 8192), Demand(2, 8192)),  # fits: unchanged
        (Demand(8, 1024), Demand(4, 1024)),  # 8 vCPUs > 4: the machine's 4
        (Demand(1, 65536), Demand(1, 16384)),  # 64 GiB > 16 GiB: the machine's 16
        (Demand(8, 4096, gpus=1), Demand(4, 4096, gpus=0)),  # no GPU here: none
    ],
)
def test_clamp(demand: Demand, expected: Demand) -> None:
    assert clamp(demand, MACHINE) == expected


def test_a_clamped_job_fits_an_idle_machine_and_runs_alone() -> None:
    huge = clamp(Demand(96, 1 << 20), MACHINE)
    assert fits(huge, NOTHING, MACHINE)
    assert not fits(huge, Demand(1, 0), MACHINE)


GIB = 1024


@pytest.mark.parametrize(
    ("what", "size", "count", "capacity", "expected"),
    [
        ("ml.m5.large", InstanceType(2, 8 * GIB), 1, Demand(4, 16384), None),
        (
            "ml.m5.xlarge",
            InstanceType(4, 16 * GIB),
            1,
            Demand(2, 16384),
            "ml.m5.xlarge asks for 4 vCPUs and 16384 MiB; this machine has 2 vCPUs: "
            "running on 2 vCPUs and 16384 MiB",
        ),
        (
            "2 x ml.m5.large",  # 2 x (2 vCPUs, 8 GiB) = 4 vCPUs, 16384 MiB > 12000 MiB
            InstanceType(2, 8 * GIB),
            2,
            Demand(4, 12000),
            "2 x ml.m5.large asks for 4 vCPUs and 16384 MiB; this machine has 12000 MiB: "
            "running on 4 vCPUs and 12000 MiB",
        ),
        (
            "ml.g5.xlarge",
            InstanceType(4, 16 * GIB, gpus=1),
            1,
            Demand(4, 16384),
            "ml.g5.xlarge asks for 4 vCPUs, 16384 MiB and 1 GPU; this machine has no GPU: "
            "running on 4 vCPUs and 16384 MiB (CPU only)",
        ),
        ("ml.g5.xlarge", InstanceType(4, 16 * GIB, gpus=1), 1, Demand(4, 16384, 1), None),
        (
            "ml.p3.8xlarge",
            InstanceType(32, 244 * GIB, gpus=4),
            1,
            Demand(32, 1 << 20, gpus=2),
            "ml.p3.8xlarge asks for 32 vCPUs, 249856 MiB and 4 GPUs; this machine has 2 GPUs: "
            "running on 32 vCPUs, 249856 MiB and 2 GPUs",
        ),
        (
            "ml.inf2.xlarge",
            InstanceType(4, 16 * GIB, gpus=1, accelerator="Inferentia"),
            1,
            Demand(4, 16384, gpus=1),
            "ml.inf2.xlarge asks for 4 vCPUs, 16384 MiB and 1 Inferentia chip; this machine "
            "has no Inferentia: running on 4 vCPUs and 16384 MiB (CPU only)",
        ),
    ],
)
def test_shortfall(
    what: str, size: InstanceType, count: int, capacity: Demand, expected: str | None
) -> None:
    found = shortfall(what, size, count, capacity)
    assert (None if found is None else str(found)) == expected


@pytest.mark.parametrize(
    ("backend", "name"), [("local", "this machine"), ("ray", "the largest Ray node")]
)
def test_a_shortfall_names_what_one_host_runs_on(backend: str, name: str) -> None:
    settings = Settings.from_env({"KILN_BACKEND": backend, "KILN_RAY_ADDRESS": "10.0.0.5:6379"})
    found = shortfall(
        "ml.m5.4xlarge", InstanceType(16, 64 * GIB), 1, MACHINE, machine_name(settings)
    )
    assert found is not None
    assert found.has == f"{name} has 4 vCPUs and 16384 MiB"


def test_demand_of_counts_only_gpus_as_gpus() -> None:
    assert demand_of(InstanceType(8, 61 * GIB, gpus=1), 2) == Demand(16, 122 * GIB, 2)
    assert demand_of(InstanceType(4, 16 * GIB, 1, "Trainium")) == Demand(4, 16 * GIB, 0)


@pytest.mark.parametrize(
    ("asked", "given", "expected"),
    [
        (
            16 * 1024,
            16 * 1024,
            "out of memory: the job used more than the 16 GiB of ml.m5.xlarge; "
            "choose an instance type with more memory",
        ),
        (
            # this machine cut 16 GiB to 1.5 GiB: a bigger instance type would not help
            16 * 1024,
            1536,
            "out of memory: the job used more than the 1.5 GiB this machine gives it "
            "(ml.m5.xlarge has 16 GiB, cut to KILN_CAPACITY_MEMORY_MIB); "
            "give Kiln more memory or make it use less",
        ),
    ],
)
def test_out_of_memory_reason(asked: int, given: int, expected: str) -> None:
    assert out_of_memory_reason("the job", "ml.m5.xlarge", asked, given) == expected


@pytest.mark.parametrize(
    ("mib", "text"),
    [(256, "256 MiB"), (1024, "1 GiB"), (1536, "1.5 GiB"), (62464, "61 GiB"), (3900, "3.8 GiB")],
)
def test_memory_text(mib: int, text: str) -> None:
    assert memory_text(mib) == text
