"""``kiln server`` as its own process keeps a flat resident set under fuzz: after a warm-up, a
run several times longer must not grow it by more than ``ALLOWED_GROWTH_KIB``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .conftest import (
    JSON_OPERATIONS,
    OPERATIONS,
    PROFILE,
    Target,
    call_boto3,
    check_answer,
    json_target,
    kiln_process,
)
from .strategies import documents, requests

# After the warm-up, every path the fuzz reaches has been imported and its caches are full
# (botocore's model of each operation, compiled patterns, SQLAlchemy's statement cache, the
# allocator's arenas); what moves after that is allocator noise of a few MB. 20 MB over the
# run's ~12,000 requests catches a leak of ~2 KB a request. It runs in the long profile only.
ALLOWED_GROWTH_KIB = 20 * 1024
WARM_UP, RUN = 400, 2000  # examples of ~6 requests

STEPS = st.lists(
    st.one_of(
        st.sampled_from(OPERATIONS).flatmap(
            lambda op: st.tuples(st.just("boto3"), st.just(op), requests(*op))
        ),
        st.sampled_from(JSON_OPERATIONS).flatmap(
            lambda op: st.tuples(st.just("raw"), st.just(op), documents(*op))
        ),
    ),
    min_size=4,
    max_size=8,
)


def fuzz(target: Target, examples: int) -> None:
    """Send ``examples`` sequences of boto3 and raw requests, each answer checked."""

    @settings(max_examples=examples)
    @given(STEPS)
    def send(steps: list[tuple[str, tuple[str, str], Any]]) -> None:
        for how, (service, name), params in steps:
            if how == "boto3":
                call_boto3(target, service, name, params)
            else:
                headers = {"X-Amz-Target": json_target(service, name)}
                headers["Content-Type"] = "application/x-amz-json-1.1"
                body = json.dumps(params).encode()
                check_answer(target.signed(service, "/", body, headers))

    send()


@pytest.mark.skipif(PROFILE != "long", reason="long profile only: make fuzz")
def test_server_rss_stays_flat_under_a_long_fuzz_run(tmp_path: Path) -> None:
    with kiln_process(tmp_path / "kiln-home") as target:
        fuzz(target, WARM_UP)
        before = target.rss_kib()
        fuzz(target, RUN)
        after = target.rss_kib()
    print(f"RSS {before} KiB → {after} KiB")
    assert after - before < ALLOWED_GROWTH_KIB, f"RSS {before} KiB → {after} KiB"
