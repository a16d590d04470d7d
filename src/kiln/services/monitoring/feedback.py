"""Ground-truth feedback: labels for logged inferences, stored and written to S3.

A batch is checked whole first: a malformed one is refused (400) and nothing is written.
Then each record is accepted or rejected on its own (unknown InferenceId, already labelled,
repeated in the batch), and the accepted ones are written together — one database
transaction and one S3 file, both or neither. Per record, not all-or-nothing, because
labelling pipelines send what they have: one id past the log's retention should not send the
whole batch back; the answer names every rejected id and why.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Protocol

from kiln.db.inferences import GroundTruth, InferenceStore, Label
from kiln.errors import ResourceNotFoundError, ValidationError
from kiln.services.monitoring.feedback_result import FeedbackResult, Rejection
from kiln.services.monitoring.ground_truth import ground_truth_lines, ground_truth_uri
from kiln.services.monitoring.predictions import as_label
from kiln.storage import S3Uri

MAX_RECORDS = 1000
MAX_ID_LENGTH = 64
"""``X-Amzn-SageMaker-Inference-Id`` is 1–64 characters."""
MAX_LABEL_LENGTH = 256

UNKNOWN = "no invocation with this InferenceId on this endpoint within the log's retention"
LABELLED = "already has ground truth"
REPEATED = "appears more than once in this batch (the first is kept)"


class ObjectWriter(Protocol):
    """Where ground-truth files are written (the object store)."""

    def put_bytes(self, uri: S3Uri, body: bytes, *, create_bucket: bool = False) -> None:
        """Write one object (its bucket made first with ``create_bucket``)."""


def parse_feedback(document: object) -> list[GroundTruth]:
    """``{"Records": [{"InferenceId", "GroundTruth"}, …]}`` as labels; ValidationError if not."""
    records = document.get("Records") if isinstance(document, dict) else None
    if not isinstance(records, list) or not 1 <= len(records) <= MAX_RECORDS:
        raise ValidationError(
            f'Give "Records": a list of 1 to {MAX_RECORDS} {{"InferenceId", "GroundTruth"}} objects'
        )
    return [_record(i, record) for i, record in enumerate(records)]


def _record(index: int, record: object) -> GroundTruth:
    where = f"Records[{index}]"
    if not isinstance(record, dict) or set(record) != {"InferenceId", "GroundTruth"}:
        raise ValidationError(f'{where} must have exactly "InferenceId" and "GroundTruth"')
    inference_id = record["InferenceId"]
    if not isinstance(inference_id, str) or not 1 <= len(inference_id) <= MAX_ID_LENGTH:
        raise ValidationError(
            f"{where}.InferenceId must be a string of 1 to {MAX_ID_LENGTH} characters, "
            f"not {inference_id!r}"
        )
    return GroundTruth(inference_id, _label(where, record["GroundTruth"]))


def _label(where: str, value: object) -> Label:
    label: Label | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        label = as_label(repr(float(value)))
    elif isinstance(value, str) and len(value) <= MAX_LABEL_LENGTH:
        label = as_label(value.strip())
    if label is None:
        raise ValidationError(
            f"{where}.GroundTruth must be a class label (text of 1 to {MAX_LABEL_LENGTH} "
            f"characters) or a finite number, not {value!r}"
        )
    return label


def sort_feedback(
    batch: Sequence[GroundTruth], known: Collection[str], labelled: Collection[str]
) -> tuple[list[GroundTruth], list[Rejection]]:
    """The records to accept, and the rejected ones with their reasons, in batch order."""
    accepted: list[GroundTruth] = []
    rejected: list[Rejection] = []
    seen: set[str] = set()
    for record in batch:
        reason = None
        if record.inference_id in seen:
            reason = REPEATED
        elif record.inference_id not in known:
            reason = UNKNOWN
        elif record.inference_id in labelled:
            reason = LABELLED
        seen.add(record.inference_id)
        if reason is None:
            accepted.append(record)
        else:
            rejected.append(Rejection(record.inference_id, reason))
    return accepted, rejected


class FeedbackService:
    """Takes ground truth for an endpoint's logged inferences."""

    def __init__(
        self,
        store: InferenceStore,
        objects: ObjectWriter,
        prefix: S3Uri,
        endpoint_exists: Callable[[str], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._objects = objects
        self._prefix = prefix
        self._endpoint_exists = endpoint_exists
        self._clock = clock

    def put_feedback(self, endpoint: str, document: object) -> FeedbackResult:
        """Store the labels of ``document``; which were accepted, which not and why."""
        if not self._endpoint_exists(endpoint):
            raise ResourceNotFoundError(f'Could not find endpoint "{endpoint}".')
        batch = parse_feedback(document)
        ids = {g.inference_id for g in batch}
        known = self._store.known_ids(endpoint, ids)
        accepted, rejected = sort_feedback(batch, known, self._store.labelled_ids(endpoint, known))
        if not accepted:
            return FeedbackResult(0, tuple(rejected), None)
        now = self._clock()
        uri = ground_truth_uri(self._prefix, endpoint, now)
        body = ground_truth_lines(accepted)
        self._store.add_ground_truth(
            endpoint, accepted, now, lambda: self._objects.put_bytes(uri, body, create_bucket=True)
        )
        return FeedbackResult(len(accepted), tuple(rejected), str(uri))
