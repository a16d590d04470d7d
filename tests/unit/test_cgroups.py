"""Reading cgroup files: counters, and whether the OOM killer struck."""

from __future__ import annotations

import pytest

from kiln.compute.cgroups import oom_killed, parse_counters

MIB = 1024 * 1024


def test_counters_are_read_from_a_flat_keyed_file() -> None:
    v1_oom_control = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n"
    assert parse_counters(v1_oom_control) == {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 2}


def test_lines_without_a_number_are_skipped() -> None:
    assert parse_counters("max max\nlow 0\n\n") == {"low": 0}


@pytest.mark.parametrize(
    ("counters", "peak", "limit", "expected"),
    [
        ({"oom": 1, "oom_kill": 1}, 256 * MIB, 256 * MIB, True),  # v2 memory.events after a kill
        ({"oom_kill": 0}, 256 * MIB, 256 * MIB, False),  # at the limit, page cache reclaimed
        ({"oom_kill": 0}, None, None, False),  # the count wins over usage
        ({}, 256 * MIB, 256 * MIB, True),  # before Linux 4.13: usage reached the limit
        ({}, 100 * MIB, 256 * MIB, False),
        ({}, None, 256 * MIB, False),  # nothing to tell by
    ],
)
def test_oom_killed(
    counters: dict[str, int], peak: int | None, limit: int | None, expected: bool
) -> None:
    assert oom_killed(counters, peak, limit) is expected
