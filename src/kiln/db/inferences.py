"""The inference log's store: predictions by InferenceId, and the ground truth fed back for them.

An ``InferenceId`` is the caller's, so it may repeat: every invocation is a row, and readers
decide which counts. Ground truth is one label per (endpoint, InferenceId); it applies to every
variant that answered that id (the production variant and its shadows).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from kiln.db.resources import _available
from kiln.db.tables import ground_truth, inferences
from kiln.errors import ConflictError

Label = float | str
"""A prediction or a ground-truth value: a number, or a class label."""


@dataclass(frozen=True, slots=True)
class LoggedInference:
    """One invocation that carried an InferenceId, as the log keeps it."""

    endpoint: str
    inference_id: str
    variant: str
    is_shadow: bool
    prediction: Label | None
    """The model's answer decoded to one value; None when it was not one (or not an answer)."""
    arrived_at: float


@dataclass(frozen=True, slots=True)
class GroundTruth:
    """The true outcome of one inference, as fed back."""

    inference_id: str
    label: Label


@dataclass(frozen=True, slots=True)
class LabelledPrediction:
    """A logged prediction joined with its ground truth."""

    inference_id: str
    variant: str
    is_shadow: bool
    prediction: Label | None
    label: Label
    arrived_at: float


class InferenceStore:
    """Reads and writes the ``inferences`` and ``ground_truth`` tables."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def add(self, logged: Sequence[LoggedInference]) -> None:
        """Insert a batch of logged inferences in one transaction."""
        if not logged:
            return
        rows = [
            {"endpoint": i.endpoint, "inference_id": i.inference_id, "variant": i.variant,
             "is_shadow": i.is_shadow, "prediction": i.prediction, "arrived_at": i.arrived_at}
            for i in logged
        ]  # fmt: skip
        with _available(), self._engine.begin() as connection:
            connection.execute(insert(inferences), rows)

    def known_ids(self, endpoint: str, ids: Collection[str]) -> set[str]:
        """Which of ``ids`` the log holds for ``endpoint``."""
        return self._ids(inferences, endpoint, ids)

    def labelled_ids(self, endpoint: str, ids: Collection[str]) -> set[str]:
        """Which of ``ids`` already have ground truth on ``endpoint``."""
        return self._ids(ground_truth, endpoint, ids)

    def _ids(self, table: Table, endpoint: str, ids: Collection[str]) -> set[str]:
        columns = table.c
        statement = (
            select(columns.inference_id)
            .where(columns.endpoint == endpoint, columns.inference_id.in_(list(ids)))
            .distinct()
        )
        with _available(), self._engine.connect() as connection:
            return {str(row[0]) for row in connection.execute(statement)}

    def add_ground_truth(
        self,
        endpoint: str,
        labels: Sequence[GroundTruth],
        received_at: float,
        publish: Callable[[], None],
    ) -> None:
        """Store ``labels`` and call ``publish`` (the S3 copy) in one transaction: both or none.

        ``ConflictError`` if another request labelled one of them first.
        """
        rows = [
            {"endpoint": endpoint, "inference_id": g.inference_id, "label": g.label,
             "received_at": received_at}
            for g in labels
        ]  # fmt: skip
        try:
            with _available(), self._engine.begin() as connection:
                connection.execute(insert(ground_truth), rows)
                publish()  # an error here rolls the rows back
        except IntegrityError:
            raise ConflictError(
                "Another request labelled some of these inferences at the same time; "
                "send the batch again to see which"
            ) from None

    def labelled_predictions(
        self, endpoint: str, start: float, end: float
    ) -> list[LabelledPrediction]:
        """Every logged prediction of ``endpoint`` in [start, end) that has ground truth."""
        i, g = inferences.c, ground_truth.c
        statement = (
            select(i.inference_id, i.variant, i.is_shadow, i.prediction, g.label, i.arrived_at)
            .join(
                ground_truth,
                (g.endpoint == i.endpoint) & (g.inference_id == i.inference_id),
            )
            .where(i.endpoint == endpoint, i.arrived_at >= start, i.arrived_at < end)
            .order_by(i.arrived_at)
        )
        with _available(), self._engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [
            LabelledPrediction(
                str(r.inference_id), str(r.variant), bool(r.is_shadow), _as_label(r.prediction),
                _as_label(r.label), float(r.arrived_at),
            )
            for r in rows
        ]  # fmt: skip

    def prune(self, before: float) -> int:
        """Forget inferences and ground truth older than ``before``; how many rows went."""
        with _available(), self._engine.begin() as connection:
            gone = connection.execute(delete(inferences).where(inferences.c.arrived_at < before))
            labels = connection.execute(
                delete(ground_truth).where(ground_truth.c.received_at < before)
            )
        return int(gone.rowcount) + int(labels.rowcount)


def _as_label(value: Any) -> Any:
    """A JSON value read back as a label: databases may return ``1.0`` as ``1``."""
    if isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value
