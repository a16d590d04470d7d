"""CloudWatch's alarm operations over the ``alarms`` table (botocore's ``cloudwatch`` shapes).

    PutMetricAlarm   create or replace one single-metric alarm (starts INSUFFICIENT_DATA)
    DescribeAlarms   MetricAlarms by AlarmNames / AlarmNamePrefix / StateValue, paged
    DeleteAlarms     by name (unknown names → ResourceNotFound, nothing deleted)
    SetAlarmState    force a state until the next evaluation (listeners hear of it)

Every state change, by the evaluator or ``SetAlarmState``, is stored first, then told to each
registered ``AlarmListener``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from kiln.auth.actions import alarm_arn
from kiln.db.alarms import AlarmRow, AlarmRows
from kiln.errors import KilnError, ResourceNotFoundError
from kiln.services.listing import page
from kiln.services.monitoring.alarms.changes import AlarmListener, AlarmState, AlarmStateChange
from kiln.services.monitoring.alarms.definition import AlarmDefinition, parse_alarm
from kiln.services.monitoring.metrics.errors import InvalidNextToken, InvalidParameterValue
from kiln.shapes.aws import output_shape, project

log = logging.getLogger(__name__)

_PAGE = 50  # DescribeAlarms' default MaxRecords
_CREATED = "Unchecked: Initial alarm creation"


class CloudWatchAlarms:
    """The alarm operations, the alarms' states and who listens to their changes."""

    def __init__(
        self, rows: AlarmRows, region: str, clock: Callable[[], float] = time.time
    ) -> None:
        self._rows = rows
        self._region = region
        self._clock = clock
        self._listeners: list[AlarmListener] = []
        self._lock = threading.Lock()  # one state change at a time: listeners hear them in order

    def add_listener(self, listener: AlarmListener) -> None:
        """Tell ``listener`` of every state change from now on."""
        self._listeners.append(listener)

    def arn(self, name: str) -> str:
        """The alarm's ARN."""
        return alarm_arn(self._region, name)

    # -- the API -------------------------------------------------------------------------------

    def put_metric_alarm(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``PutMetricAlarm``: a new alarm starts INSUFFICIENT_DATA; a replaced one keeps its
        state until the next evaluation."""
        parse_alarm(params)
        now = self._clock()
        with self._lock:
            found = self._rows.get(params["AlarmName"])
            state: tuple[str, str, str | None, float] = (
                (AlarmState.INSUFFICIENT_DATA, _CREATED, None, now)
                if found is None
                else (found.state, found.state_reason, found.state_reason_data, found.state_updated)
            )
            self._rows.put(AlarmRow(params["AlarmName"], dict(params), now, *state))
        return {}

    def describe_alarms(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``DescribeAlarms`` (metric alarms only)."""
        names, prefix = params.get("AlarmNames"), params.get("AlarmNamePrefix")
        if names and prefix:
            raise InvalidParameterValue("AlarmNames and AlarmNamePrefix cannot be given together.")
        wanted = params.get("StateValue")
        rows = [
            r
            for r in self._rows.all()
            if (not names or r.name in names)
            and (not prefix or r.name.startswith(prefix))
            and (not wanted or r.state == wanted)
        ]
        found, token = page(
            rows, params.get("NextToken"), int(params.get("MaxRecords") or _PAGE), _invalid_token
        )
        answer: dict[str, Any] = {"MetricAlarms": [self._described(r) for r in found]}
        if token is not None:
            answer["NextToken"] = token
        return answer

    def delete_alarms(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``DeleteAlarms``: all of them, or none when one is unknown."""
        names = list(params["AlarmNames"])
        with self._lock:
            known = {r.name: AlarmState(r.state) for r in self._rows.all()}
            missing = [n for n in names if n not in known]
            if missing:
                raise ResourceNotFoundError(f"Alarms not found: {', '.join(missing)}")
            self._rows.remove(names)
            now = self._clock()
            for name in names:
                # Listeners forget it: a deleted alarm in ALARM must not go on scaling anything.
                gone = AlarmStateChange(
                    name, self.arn(name), known[name], AlarmState.INSUFFICIENT_DATA, "deleted", now
                )
                for listener in self._listeners:
                    listener.alarm_changed(gone)
        return {}

    def set_alarm_state(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """``SetAlarmState``: the state holds until the next evaluation changes it."""
        name = params["AlarmName"]
        state, reason = AlarmState(params["StateValue"]), params["StateReason"]
        if self.change(name, state, reason, params.get("StateReasonData")) is None:
            raise ResourceNotFoundError(f"Alarm {name} does not exist.")
        return {}

    # -- what the evaluator and rollouts use ------------------------------------------------

    def definitions(self) -> list[tuple[AlarmDefinition, AlarmState]]:
        """Every alarm's definition and current state (rows that no longer parse are skipped)."""
        found = []
        for row in self._rows.all():
            try:
                found.append((parse_alarm(row.definition), AlarmState(row.state)))
            except (KilnError, ValueError, KeyError):
                log.warning("alarm %s: stored definition no longer valid", row.name)
        return found

    def states(self) -> dict[str, AlarmState]:
        """Each alarm's current state, by name."""
        return {r.name: AlarmState(r.state) for r in self._rows.all()}

    def change(
        self,
        name: str,
        new: AlarmState,
        reason: str,
        reason_data: str | None = None,
        breach: float | None = None,
    ) -> AlarmStateChange | None:
        """Store ``name``'s new state and tell the listeners; None if the alarm is gone."""
        now = self._clock()
        with self._lock:
            row = self._rows.get(name)
            if row is None or not self._rows.set_state(name, new, reason, reason_data, now):
                return None
            actions = parse_alarm(row.definition).actions(new)
            change = AlarmStateChange(
                name, self.arn(name), AlarmState(row.state), new, reason, now, actions, breach
            )
            for listener in self._listeners:
                listener.alarm_changed(change)
        return change

    def _described(self, row: AlarmRow) -> dict[str, Any]:
        answer = {
            "ActionsEnabled": True,
            "OKActions": [],
            "AlarmActions": [],
            "InsufficientDataActions": [],
            "Dimensions": [],
            **row.definition,
            "AlarmArn": self.arn(row.name),
            "AlarmConfigurationUpdatedTimestamp": row.configuration_updated,
            "StateValue": row.state,
            "StateReason": row.state_reason,
            "StateUpdatedTimestamp": row.state_updated,
            "StateTransitionedTimestamp": row.state_updated,
        }
        if not answer.get("DatapointsToAlarm"):
            answer["DatapointsToAlarm"] = answer["EvaluationPeriods"]
        answer.setdefault("TreatMissingData", "missing")
        if row.state_reason_data:
            answer["StateReasonData"] = row.state_reason_data
        shape = output_shape("cloudwatch", "DescribeAlarms").members["MetricAlarms"]
        return dict(project(answer, shape.member))  # type: ignore[attr-defined]


def _invalid_token() -> Exception:
    return InvalidNextToken("The NextToken is not one this server handed out.")
