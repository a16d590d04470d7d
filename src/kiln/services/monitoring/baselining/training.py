"""Baselines as a side effect of training: a completed job's ``train`` channel, analyzed.

The runner hands a completed job's channel folders over (``hand_over``) just before it removes
the workspace: the ``train`` channel's files are hard-linked into ``<KILN_HOME>/baselines/<job>``
(no copy, no download) and the job is queued. One worker thread analyzes one job at a time, off
every job's path: a baseline never delays or fails its job. The two files go to
``<S3OutputPath>/<job>/output/baseline/`` next to ``model.tar.gz``, and the job's tags say
what happened (``ListTags``; DescribeTrainingJob has no field for it):

    kiln:baseline-status       InProgress | Completed | Failed
    kiln:baseline-statistics   s3://…/output/baseline/statistics.json   (Completed)
    kiln:baseline-constraints  s3://…/output/baseline/constraints.json  (Completed)
    kiln:baseline-failure      why, in tag-safe characters               (Failed)

A server that stops mid-analysis leaves the folder; the next one (``recover``) analyzes it again.
"""

from __future__ import annotations

import logging
import os
import queue
import re
import shutil
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kiln.db import TrainingJobRecord, TrainingJobStore
from kiln.services.monitoring.baselining.errors import UnsupportedDataError
from kiln.services.tags import merged_tags
from kiln.services.training.channels import TRAIN_CHANNEL
from kiln.services.training.service import job_output_uri
from kiln.storage import ObjectStore

if TYPE_CHECKING:
    from kiln.services.monitoring.baselines import DatasetFormat

log = logging.getLogger(__name__)

CHANNEL = TRAIN_CHANNEL
STATUS_TAG = "kiln:baseline-status"
STATISTICS_TAG = "kiln:baseline-statistics"
CONSTRAINTS_TAG = "kiln:baseline-constraints"
FAILURE_TAG = "kiln:baseline-failure"
# SageMaker's tag value: at most 256 of these characters.
_TAG_VALUE_LIMIT = 256
_NOT_TAG_SAFE = re.compile(r"[^\w\s.:/=+\-@]")


def tag_safe(text: str) -> str:
    """``text`` as a tag value SageMaker accepts: other characters as spaces, cut to 256."""
    return " ".join(_NOT_TAG_SAFE.sub(" ", text).split())[:_TAG_VALUE_LIMIT]


class TrainingBaselines:
    """Queues completed jobs' training data and writes their baselines, one at a time."""

    def __init__(self, jobs: TrainingJobStore, objects: ObjectStore, folder: Path) -> None:
        self._jobs = jobs
        self._objects = objects
        self._folder = folder
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the worker; queue what a previous server left unanalyzed."""
        if self._folder.is_dir():
            for leftover in sorted(p.name for p in self._folder.iterdir() if p.is_dir()):
                self._queue.put(leftover)
        self._thread = threading.Thread(target=self._work, name="kiln-baselines", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop after the job being analyzed; the queued ones wait for the next server."""
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def hand_over(self, job: str, channels: Mapping[str, Sequence[Path]]) -> None:
        """Keep a completed job's ``train`` files (one folder per host) and queue the job."""
        folders = channels.get(CHANNEL)
        if not folders:
            return
        target = self._folder / job
        shutil.rmtree(target, ignore_errors=True)
        for folder in folders:
            if folder.is_dir():
                shutil.copytree(folder, target, copy_function=_link, dirs_exist_ok=True)
        target.mkdir(parents=True, exist_ok=True)
        self._tag(job, {STATUS_TAG: "InProgress"})
        self._queue.put(job)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                self._baseline(job)
            except Exception as e:  # the outcome is recorded; the worker goes on
                log.warning("training job %s: its baseline failed", job, exc_info=True)
                self._record_failure(job, e)
            finally:
                shutil.rmtree(self._folder / job, ignore_errors=True)

    def _baseline(self, job: str) -> None:
        # Here, not at the top: the server does not load numpy until a baseline needs it.
        from kiln.services.monitoring.baselines import analyze_dataset
        from kiln.services.monitoring.baselining.plan import excluded_columns
        from kiln.services.monitoring.baselining.suggest import (
            CONSTRAINTS_FILE,
            STATISTICS_FILE,
            baseline_from,
            data_files,
        )

        record = self._jobs.get(job)
        if record is None:
            return
        files = data_files(self._folder / job)
        if not files:
            raise UnsupportedDataError(f"the {CHANNEL} channel held no files")
        dataset_format = _format(_content_type(record), files)
        tags = {t["Key"]: t.get("Value", "") for t in record.spec.get("Tags", [])}
        statistics = analyze_dataset(files, dataset_format)
        names = [feature.name for feature in statistics.features]
        choice = excluded_columns(names, dataset_format, tags)
        baseline = baseline_from(statistics, choice.excluded)
        prefix = job_output_uri(record.spec["OutputDataConfig"]["S3OutputPath"], job)
        uris = {}
        for name, body in baseline.files().items():
            uri = prefix.join("baseline", name)
            self._objects.put_bytes(uri, body)
            uris[name] = str(uri)
        excluded = ", ".join(choice.excluded) or "none"
        log.info("training job %s: baseline written (left out: %s)", job, excluded)
        self._tag(
            job,
            {
                STATUS_TAG: "Completed",
                STATISTICS_TAG: uris[STATISTICS_FILE],
                CONSTRAINTS_TAG: uris[CONSTRAINTS_FILE],
            },
        )

    def _record_failure(self, job: str, error: Exception) -> None:
        try:
            self._tag(job, {STATUS_TAG: "Failed", FAILURE_TAG: tag_safe(_reason(error))})
        except Exception:  # e.g. a full disk: the server log keeps the outcome
            log.exception("training job %s: recording its baseline's failure failed", job)

    def _tag(self, job: str, tags: Mapping[str, str]) -> None:
        added = [{"Key": key, "Value": value} for key, value in tags.items()]

        def tag(record: TrainingJobRecord) -> None:
            current = [t for t in record.spec.get("Tags", []) if t["Key"] != FAILURE_TAG]
            record.spec["Tags"] = merged_tags(current, added)

        self._jobs.modify(job, tag)


def _format(content_type: str | None, files: Sequence[Path]) -> DatasetFormat:
    from kiln.services.monitoring.baselines import DatasetFormat, DatasetKind
    from kiln.services.monitoring.baselining.plan import csv_has_header, dataset_kind
    from kiln.services.monitoring.baselining.suggest import first_csv_row

    kind = dataset_kind(content_type, [f.name for f in files])
    if kind is not DatasetKind.CSV:
        return DatasetFormat(kind)
    return DatasetFormat(kind, header=csv_has_header(content_type, first_csv_row(files[0])))


def _content_type(record: TrainingJobRecord) -> str | None:
    for channel in record.spec.get("InputDataConfig", []):
        if channel.get("ChannelName") == CHANNEL:
            if channel.get("CompressionType", "None") != "None":
                raise UnsupportedDataError("compressed channels are not analyzed")
            content_type: str | None = channel.get("ContentType")
            return content_type
    return None


def _reason(error: Exception) -> str:
    if isinstance(error, UnsupportedDataError):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _link(source: str, dest: str) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)
