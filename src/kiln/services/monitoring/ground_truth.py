"""Ground truth in SageMaker Model Monitor's format, so its merge job (and Kiln's) reads it.

One JSON line per label (``model-monitor-model-quality-merge.md``)::

    {"groundTruthData": {"data": "1", "encoding": "CSV"},
     "eventMetadata": {"eventId": "<InferenceId>"}, "eventVersion": "0"}

Files lie under ``<prefix>/<endpoint>/yyyy/mm/dd/hh/`` — the path format of captured data, the
hour (UTC) being when the labels arrived, not when the inference ran (Model Monitor allows
that) — named ``<MM>-<SS>-<mmm>-<uuid>.jsonl`` as capture files are. Model Monitor joins a
label to a captured record by ``eventMetadata.inferenceId``, so ``eventId`` carries the
InferenceId the caller sent with the invocation.
"""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Sequence

import orjson

from kiln.db.inferences import GroundTruth, Label
from kiln.services.monitoring.capture.keys import file_name, hour_folder, hour_of
from kiln.storage import S3Uri


def ground_truth_lines(labels: Sequence[GroundTruth]) -> bytes:
    """The JSON Lines of one ground-truth file."""
    return b"".join(
        orjson.dumps(
            {
                "groundTruthData": {"data": csv_value(g.label), "encoding": "CSV"},
                "eventMetadata": {"eventId": g.inference_id},
                "eventVersion": "0",
            }
        )
        + b"\n"
        for g in labels
    )


def csv_value(label: Label) -> str:
    """``label`` as one CSV cell: whole numbers without ``.0``; text quoted when it must be."""
    if isinstance(label, float):
        return str(int(label)) if label.is_integer() else repr(label)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow([label])
    return buffer.getvalue()


def ground_truth_uri(
    prefix: S3Uri, endpoint: str, at: float, file_id: uuid.UUID | None = None
) -> S3Uri:
    """Where labels received at ``at`` (epoch s) go: capture's hour folders and file names."""
    return prefix.join(endpoint, hour_folder(hour_of(at)), file_name(at, file_id or uuid.uuid4()))
