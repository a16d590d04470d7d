"""Firings: record one, then carry out its plan on a small pool of worker threads.

Recorded first (``InProgress``, with its plan), acted on after: a server that stops or dies
part-way resumes each ``InProgress`` firing at its next start. The training job keeps the name
its plan fixed, so a job a crash left started is not started twice (``ResourceInUse`` means
"already started"); a webhook may be delivered again after a crash (at least once).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol

from kiln.db.retraining import FiringRow, RetrainingRows
from kiln.errors import KilnError, ResourceInUseError, ServiceUnavailableError
from kiln.services.monitoring.actions.decisions import Evidence
from kiln.services.monitoring.actions.plans import (
    DELIVERED,
    FAILED,
    IN_PROGRESS,
    PENDING,
    STARTED,
    final_status,
    firing_plan,
    first_actions,
    webhook_body,
)
from kiln.services.monitoring.actions.rules import RetrainingRule
from kiln.services.monitoring.actions.webhooks import Attempt, WebhookSender

log = logging.getLogger(__name__)

_WORKERS = 4


class TrainingJobs(Protocol):
    """How the rules reach Kiln's training service (the API layer adapts ``TrainingService``)."""

    def check(self, request: Mapping[str, Any]) -> None:
        """``ValidationError`` unless CreateTrainingJob would take ``request``."""

    def start(self, request: Mapping[str, Any]) -> None:
        """Start the job; ``ResourceInUseError`` if one of its name exists."""


class FiringRunner:
    """Records firings and carries out their actions in the background."""

    def __init__(
        self,
        rows: RetrainingRows,
        training: TrainingJobs,
        webhooks: WebhookSender,
        stopping: threading.Event,
    ) -> None:
        self._rows = rows
        self._training = training
        self._webhooks = webhooks
        self._stopping = stopping
        self._pool: ThreadPoolExecutor | None = None

    def start(self) -> None:
        """Start the workers and resume the firings a stop or crash left part-way."""
        self._stopping.clear()
        self._pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="kiln-retraining")
        for row in self._rows.firings_with_status(IN_PROGRESS):
            self._pool.submit(self._carry_out, row.id)

    def stop(self) -> None:
        """Cut waits short and let running actions end; queued work is left to the next start."""
        self._stopping.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def submit(self, work: Callable[[], object]) -> None:
        """Run ``work`` on a worker (dropped once stopping: ``work`` must be safe to lose)."""
        pool = self._pool
        if pool is not None and not self._stopping.is_set():
            pool.submit(_logged, work)

    def fire(
        self,
        rule: RetrainingRule,
        evidence: Evidence,
        event_key: str,
        at: float,
        seen: Mapping[str, str] | None = None,
    ) -> int | None:
        """Record a firing of ``rule`` (with the objects it counted) and queue its actions;
        its id, or None if ``event_key`` fired this rule already (or the rule is gone)."""
        plan = firing_plan(rule, evidence, at)
        row = FiringRow(
            0, rule.name, event_key, at, IN_PROGRESS, evidence.to_document(), plan,
            first_actions(plan),
        )  # fmt: skip
        firing_id = self._rows.add_firing(row, seen)
        if firing_id is not None:
            log.info("retraining rule %s fired (firing %d)", rule.name, firing_id)
            self.submit(lambda: self._carry_out(firing_id))
        return firing_id

    def _carry_out(self, firing_id: int) -> None:
        row = self._rows.firing(firing_id)
        if row is None or row.status != IN_PROGRESS:
            return  # its rule was deleted meanwhile, or it is done
        actions = json.loads(json.dumps(row.actions))  # a deep, writable copy
        if actions.get("TrainingJob", {}).get("Status") == PENDING:
            actions["TrainingJob"].update(self._start_job(row.plan["TrainingJobRequest"]))
            self._rows.set_firing(firing_id, IN_PROGRESS, actions)
        if actions.get("Webhook", {}).get("Status") == PENDING:
            delivered = self._deliver(row, actions)
            if delivered is None:
                return  # stopping: the next start resumes it
            actions["Webhook"]["Status"] = DELIVERED if delivered else FAILED
        self._rows.set_firing(firing_id, final_status(actions), actions)

    def _start_job(self, request: Mapping[str, Any]) -> dict[str, Any]:
        try:
            self._training.start(request)
        except ResourceInUseError:
            pass  # started before a restart: the name is this firing's alone
        except ServiceUnavailableError:
            raise
        except KilnError as e:
            log.warning("retraining job %s not started: %s", request["TrainingJobName"], e)
            return {"Status": FAILED, "Error": e.message}
        return {"Status": STARTED}

    def _deliver(self, row: FiringRow, actions: dict[str, Any]) -> bool | None:
        webhook = actions["Webhook"]
        body = webhook_body(
            row.rule_name, row.id, row.trigger_time, row.plan, row.evidence, actions
        )

        def note(attempt: Attempt) -> None:
            webhook["Attempts"].append(attempt.to_document())
            self._rows.set_firing(row.id, IN_PROGRESS, actions)

        encoded = json.dumps(body).encode()
        return self._webhooks.deliver(webhook["Url"], encoded, len(webhook["Attempts"]), note)


def _logged(work: Callable[[], object]) -> None:
    try:
        work()
    except Exception:  # a worker must outlive one bad firing; the firing stays InProgress
        log.exception("retraining work failed; a restart resumes its firing")
