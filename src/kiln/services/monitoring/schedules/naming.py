"""The names an execution is known by: its processing job, its log stream, its report folder.

AWS names a monitoring execution's processing job ``model-monitoring-<yyyymmddHHMM>-<24 hex>``
and writes its reports under ``<S3Uri>/<endpoint>/<schedule>/<yyyy>/<mm>/<dd>/<hh>/``. Kiln's
names are derived from the schedule and the scheduled time alone, so an execution a restart runs
again keeps its job name, log stream prefix and report folder. A time off the hour (Kiln's rate)
adds ``<MM>-<SS>`` to both, so two executions within one hour never share a folder.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from kiln.services.monitoring.schedules.model import Schedule
from kiln.storage import S3Uri

PROCESSING_JOBS_GROUP = "/aws/sagemaker/ProcessingJobs"


def processing_job_name(schedule: Schedule, scheduled_time: datetime) -> str:
    """``model-monitoring-<time>-<24 hex>``, the same for the same schedule and time."""
    stamp = scheduled_time.strftime("%Y%m%d%H%M")
    if scheduled_time.second or scheduled_time.microsecond:
        stamp += scheduled_time.strftime("%S")
    seed = f"{schedule.arn}|{schedule.created.isoformat()}|{scheduled_time.isoformat()}"
    return f"model-monitoring-{stamp}-{hashlib.sha256(seed.encode()).hexdigest()[:24]}"


def log_stream_name(job_name: str, started_epoch: int) -> str:
    """The execution's stream in ``/aws/sagemaker/ProcessingJobs``: ``<job>/algo-1-<epoch>``."""
    return f"{job_name}/algo-1-{started_epoch}"


def report_uri(
    output_s3_uri: str, endpoint_name: str, schedule_name: str, scheduled_time: datetime
) -> S3Uri:
    """Where the execution of ``schedule_name`` (over ``endpoint_name``, writing under
    ``output_s3_uri``) scheduled at ``scheduled_time`` writes its reports."""
    folder = scheduled_time.strftime("%Y/%m/%d/%H")
    if scheduled_time.minute or scheduled_time.second:
        folder += scheduled_time.strftime("/%M-%S")
    return S3Uri.parse(output_s3_uri).join(endpoint_name, schedule_name, folder)
