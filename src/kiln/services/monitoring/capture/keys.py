"""Where captured files go, as SageMaker lays them out.

``<DestinationS3Uri>/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/<MM>-<SS>-<mmm>-<uuid4>.jsonl``:
the folders are the UTC hour of the inferences the file holds (Model Monitor reads a window's
hours), the name is the minute, second and millisecond of the file's first inference and a fresh
UUID (as in AWS's samples: ``AllTraffic/2020/03/11/12/32-18-648-cee08c3a-….jsonl``).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from kiln.storage import S3Uri

HOUR_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class FileGroup:
    """Inferences that share a capture folder: one destination, endpoint, variant and UTC hour."""

    destination: str
    endpoint: str
    variant: str
    hour: int
    """Epoch seconds at the start of the UTC hour."""


def hour_of(epoch_seconds: float) -> int:
    """The start of the UTC hour holding ``epoch_seconds``."""
    return int(epoch_seconds // HOUR_SECONDS) * HOUR_SECONDS


def hour_folder(hour: int) -> str:
    """``yyyy/mm/dd/hh`` of the UTC hour starting at ``hour``."""
    return time.strftime("%Y/%m/%d/%H", time.gmtime(hour))


def file_name(first_inference: float, file_id: uuid.UUID) -> str:
    """``MM-SS-mmm-<uuid>.jsonl`` for a file whose first inference was at ``first_inference``."""
    millis = int(first_inference * 1000) % 1000
    minute_second = time.strftime("%M-%S", time.gmtime(first_inference))
    return f"{minute_second}-{millis:03d}-{file_id}.jsonl"


def capture_file_uri(group: FileGroup, first_inference: float, file_id: uuid.UUID) -> S3Uri:
    """The object a file of ``group`` is written to."""
    return S3Uri.parse(group.destination).join(
        group.endpoint,
        group.variant,
        hour_folder(group.hour),
        file_name(first_inference, file_id),
    )
