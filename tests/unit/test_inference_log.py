"""The inference log: observe only queues; a thread writes batches, forgets old rows."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kiln.db import connect
from kiln.db.inferences import GroundTruth, InferenceStore
from kiln.services.hosting.invocations import InvocationRecord, Outcome
from kiln.services.monitoring.inference_log import InferenceLog, logged

RECORD = InvocationRecord(
    endpoint="ep", variant="A", is_shadow=False, replica="r1", event_id="e1",
    inference_id="req-1", arrived_at=100.0, outcome=Outcome.ANSWERED, model_status=200,
    model_latency_us=900, overhead_latency_us=100, request_body=b"1,2",
    request_content_type="text/csv", request_accept=None, response_body=b"0.9",
    response_content_type="text/csv", capture=None,
)  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> InferenceStore:
    return InferenceStore(connect(f"sqlite:///{tmp_path / 'kiln.db'}"))


@pytest.fixture
def inference_log(store: InferenceStore) -> Iterator[InferenceLog]:
    log = InferenceLog(store, clock=lambda: 100.0)
    log.start()
    yield log
    log.stop()


def test_observed_invocations_with_an_inference_id_are_logged(
    inference_log: InferenceLog, store: InferenceStore
) -> None:
    inference_log.observe(RECORD)
    inference_log.observe(replace(RECORD, variant="S", is_shadow=True, response_body=b"0.2"))
    inference_log.flush()
    store.add_ground_truth("ep", [GroundTruth("req-1", 1.0)], 100.0, lambda: None)
    logged = store.labelled_predictions("ep", 0, 200)
    assert [(p.variant, p.is_shadow, p.prediction, p.label) for p in logged] == [
        ("A", False, 0.9, 1.0),
        ("S", True, 0.2, 1.0),
    ]


def test_invocations_without_an_inference_id_are_not_logged(
    inference_log: InferenceLog, store: InferenceStore
) -> None:
    inference_log.observe(replace(RECORD, inference_id=None))
    inference_log.flush()
    assert store.known_ids("ep", ["req-1"]) == set()


def test_a_full_queue_drops_and_counts_instead_of_waiting(store: InferenceStore) -> None:
    log = InferenceLog(store, capacity=1)  # not started: nothing drains the queue
    log.observe(RECORD)
    log.observe(RECORD)
    assert log.dropped == 1


def test_rows_older_than_the_retention_are_forgotten(store: InferenceStore) -> None:
    log = InferenceLog(store, retention_days=1, clock=lambda: 101.0 + 86400)
    store.add([])
    log.start()
    log.observe(RECORD)  # arrived at 100: a day and a moment before the clock
    log.observe(replace(RECORD, inference_id="req-2", arrived_at=50_000.0))
    log.stop()
    assert store.known_ids("ep", ["req-1", "req-2"]) == {"req-2"}


def test_a_failed_publish_leaves_no_ground_truth(store: InferenceStore) -> None:
    def publish() -> None:
        raise OSError("the store is gone")

    with pytest.raises(OSError, match="gone"):
        store.add_ground_truth("ep", [GroundTruth("req-1", 1.0)], 100.0, publish)
    assert store.labelled_ids("ep", ["req-1"]) == set()


def test_labels_read_back_as_numbers_even_zero(store: InferenceStore) -> None:
    store.add([logged(replace(RECORD, response_body=b"0"))])
    store.add_ground_truth("ep", [GroundTruth("req-1", 0.0)], 100.0, lambda: None)
    (labelled,) = store.labelled_predictions("ep", 0, 200)
    assert (labelled.prediction, labelled.label) == (0.0, 0.0)
