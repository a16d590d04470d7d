"""Model Monitor and the retraining loop, built from one ``Settings``: the part of the
composition root (``server.py``) that issue 10 added, kept apart so each reads in one sitting.

What it builds (docs/architecture.md, "The path of a monitoring window"): baselines at training
time, Model Monitor's API and its scheduler, the retraining rules that hear the scheduler's
outcomes and watch for new data, and the timeline read model.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Engine
from starlette.routing import Route

from kiln.api.json_protocol import Operation
from kiln.api.retraining import CheckedTraining, retraining_routes
from kiln.api.timeline import timeline_routes
from kiln.auth.authorizer import Authorizer
from kiln.config import Settings
from kiln.db import ResourceStore, TrainingJobStore
from kiln.db.monitoring import MonitoringRows
from kiln.db.retraining import RetrainingRows
from kiln.services.logs.store import LogStore
from kiln.services.monitoring.actions import (
    FiringRunner,
    NewDataWatcher,
    RetrainingOnOutcomes,
    RetrainingRules,
    WebhookSender,
    store_listing,
)
from kiln.services.monitoring.baselining.training import TrainingBaselines
from kiln.services.monitoring.metrics import MetricsStore
from kiln.services.monitoring.schedules.book import StoredScheduleBook
from kiln.services.monitoring.schedules.execution import ExecutionRunner
from kiln.services.monitoring.schedules.scheduler import MonitorScheduler
from kiln.services.monitoring.schedules.service import MonitoringSchedules, capture_destination
from kiln.services.monitoring.timeline.reader import Timelines
from kiln.services.training.service import TrainingService
from kiln.storage import ObjectStore

# A captured record is in the store one flush after capture, plus the upload's time.
CAPTURE_UPLOAD_SECONDS = 2.0


@dataclass
class MonitoringParts:
    """Every long-lived part of Model Monitor and the retraining loop."""

    baselines: TrainingBaselines | None
    schedules: MonitoringSchedules
    schedule_book: StoredScheduleBook
    monitor_scheduler: MonitorScheduler
    retraining: RetrainingRules
    retraining_runner: FiringRunner
    retraining_listener: RetrainingOnOutcomes
    data_watcher: NewDataWatcher
    timelines: Timelines

    def operations(self) -> dict[str, Operation]:
        """The SageMaker operations of Model Monitor, by name."""
        m = self.schedules
        return {
            "CreateDataQualityJobDefinition": m.create_data_quality_job_definition,
            "DescribeDataQualityJobDefinition": m.describe_data_quality_job_definition,
            "ListDataQualityJobDefinitions": m.list_data_quality_job_definitions,
            "DeleteDataQualityJobDefinition": m.delete_data_quality_job_definition,
            "CreateModelQualityJobDefinition": m.create_model_quality_job_definition,
            "DescribeModelQualityJobDefinition": m.describe_model_quality_job_definition,
            "ListModelQualityJobDefinitions": m.list_model_quality_job_definitions,
            "DeleteModelQualityJobDefinition": m.delete_model_quality_job_definition,
            "CreateMonitoringSchedule": m.create_monitoring_schedule,
            "DescribeMonitoringSchedule": m.describe_monitoring_schedule,
            "ListMonitoringSchedules": m.list_monitoring_schedules,
            "UpdateMonitoringSchedule": m.update_monitoring_schedule,
            "DeleteMonitoringSchedule": m.delete_monitoring_schedule,
            "StopMonitoringSchedule": m.stop_monitoring_schedule,
            "StartMonitoringSchedule": m.start_monitoring_schedule,
            "ListMonitoringExecutions": m.list_monitoring_executions,
            "DescribeProcessingJob": m.describe_processing_job,
        }

    def timeline_routes(self) -> list[Route]:
        """``/kiln/v1/endpoints/{name}/timeline``."""
        return timeline_routes(self.timelines)

    def retraining_routes(self, authorizer: Authorizer) -> list[Route]:
        """``/kiln/v1/retraining-rules…``."""
        return retraining_routes(self.retraining, authorizer)

    def start(self) -> None:
        """Start the loops; after the training scheduler, since rules may start jobs."""
        if self.baselines is not None:
            self.baselines.start()
        self.retraining_runner.start()
        self.data_watcher.start()
        self.monitor_scheduler.start()

    def stop(self) -> None:
        """Stop the loops: executions first (they write to the store and the metrics)."""
        self.monitor_scheduler.stop()
        self.data_watcher.stop()
        self.retraining_runner.stop()
        if self.baselines is not None:
            self.baselines.stop()


def build_monitoring(
    settings: Settings,
    engine: Engine,
    objects: ObjectStore,
    jobs: TrainingJobStore,
    training: TrainingService,
    endpoints: ResourceStore,
    metrics: MetricsStore,
    logs: LogStore,
) -> MonitoringParts:
    """Build every part from the server's stores and services."""
    monitoring_rows = MonitoringRows(engine)
    schedule_book = StoredScheduleBook(monitoring_rows)
    monitor_scheduler = MonitorScheduler(
        schedule_book,
        ExecutionRunner(
            objects,
            metrics,
            logs,
            lambda name: capture_destination(endpoints, name),
            settings.home / "monitoring",
        ).run,
        tick_seconds=settings.monitor_tick_seconds,
        workers=settings.monitor_workers,
        settle=timedelta(seconds=settings.capture_flush_seconds + CAPTURE_UPLOAD_SECONDS),
    )
    rows = RetrainingRows(engine)
    checked = CheckedTraining(training)
    listing = store_listing(objects)
    stopping = threading.Event()
    webhooks = WebhookSender(
        settings.webhook_attempts,
        settings.webhook_backoff_seconds,
        settings.webhook_timeout_seconds,
        stopping,
    )
    runner = FiringRunner(rows, checked, webhooks, stopping)
    rules = RetrainingRules(
        rows, checked, listing, lambda name: settings.arn("retraining-rule", name), time.time
    )
    listener = RetrainingOnOutcomes(rules.rules, runner, time.time)
    monitor_scheduler.add_listener(listener)  # drift → retraining
    return MonitoringParts(
        baselines=(
            TrainingBaselines(jobs, objects, settings.baselines_dir)
            if settings.training_baselines
            else None
        ),
        schedules=MonitoringSchedules(settings, monitoring_rows, endpoints),
        schedule_book=schedule_book,
        monitor_scheduler=monitor_scheduler,
        retraining=rules,
        retraining_runner=runner,
        retraining_listener=listener,
        data_watcher=NewDataWatcher(
            rows,
            rules.rules,
            listing,
            runner,
            tick_seconds=settings.data_watch_seconds,
            now=time.time,
        ),
        timelines=Timelines(metrics, lambda name: endpoints.get(name) is not None),
    )
