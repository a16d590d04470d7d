"""Who wins in the database: job claims and endpoint takeovers are single conditional writes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from kiln.db import TrainingJobRecord, TrainingJobStore, connect
from kiln.db.leases import EndpointOwnerRows, JobClaims, LeaseRows

NOW = 1_000_000.0


@pytest.fixture
def engine(any_database_url: str) -> Iterator[Engine]:
    engine = connect(any_database_url)
    yield engine
    engine.dispose()


def _job(engine: Engine, owner: str | None = None) -> None:
    record = TrainingJobRecord("job", "arn", "InProgress", "Starting", 0.0, 0.0, {}, owner=owner)
    TrainingJobStore(engine).add(record)


def test_two_live_servers_claim_one_job_and_exactly_one_wins(engine: Engine) -> None:
    leases, claims = LeaseRows(engine), JobClaims(engine)
    leases.renew("a", "host", 1, NOW, 15)
    leases.renew("b", "host", 2, NOW, 15)
    _job(engine)
    assert [claims.claim("job", "a", NOW), claims.claim("job", "b", NOW)] == [True, False]
    assert TrainingJobStore(engine).get("job").owner == "a"  # type: ignore[union-attr]


def test_a_server_whose_lease_ran_out_claims_nothing(engine: Engine) -> None:
    LeaseRows(engine).renew("a", "host", 1, NOW, 15)
    _job(engine)
    assert not JobClaims(engine).claim("job", "a", NOW + 16)


def test_a_dead_servers_queued_job_can_be_claimed(engine: Engine) -> None:
    leases = LeaseRows(engine)
    leases.renew("dead", "host", 1, NOW - 60, 15)
    leases.renew("b", "host", 2, NOW, 15)
    _job(engine, owner="dead")
    assert JobClaims(engine).claim("job", "b", NOW)


def test_a_live_servers_job_cannot_be_claimed(engine: Engine) -> None:
    leases = LeaseRows(engine)
    leases.renew("a", "host", 1, NOW, 15)
    leases.renew("b", "host", 2, NOW, 15)
    _job(engine, owner="a")
    assert not JobClaims(engine).claim("job", "b", NOW)


def test_a_dead_owners_endpoint_goes_to_the_first_server_that_takes_it(engine: Engine) -> None:
    rows = EndpointOwnerRows(engine)
    assert rows.claim("e", "dead")
    assert not rows.claim("e", "b")  # one owner row per endpoint
    assert [rows.take("e", "dead", "b"), rows.take("e", "dead", "c")] == [True, False]
    (row,) = rows.rows()
    assert (row.owner, row.generation) == ("b", 2)


def test_only_the_owner_publishes_an_endpoints_route(engine: Engine) -> None:
    rows = EndpointOwnerRows(engine)
    rows.claim("e", "a")
    assert not rows.publish_route("e", "b", {"variants": []})
    assert rows.publish_route("e", "a", {"variants": [], "shadows": []})
    assert rows.route("e") == (1, {"variants": [], "shadows": []})
