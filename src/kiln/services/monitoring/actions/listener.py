"""Drift rules: hear each monitoring outcome and fire the rules it meets."""

from __future__ import annotations

from collections.abc import Callable

from kiln.services.monitoring.actions.decisions import drift_evidence
from kiln.services.monitoring.actions.firings import FiringRunner
from kiln.services.monitoring.actions.rules import RetrainingRule, ScheduleTrigger
from kiln.services.monitoring.outcomes import MonitoringOutcome


class RetrainingOnOutcomes:
    """An ``OutcomeListener``: the monitor scheduler calls ``outcome`` after each execution."""

    def __init__(
        self,
        rules: Callable[[], list[RetrainingRule]],
        runner: FiringRunner,
        now: Callable[[], float],
    ) -> None:
        self._rules = rules
        self._runner = runner
        self._now = now

    def outcome(self, outcome: MonitoringOutcome) -> None:
        """Queue the rules' verdicts on ``outcome`` (returns at once)."""
        self._runner.submit(lambda: self.fire_for(outcome))

    def fire_for(self, outcome: MonitoringOutcome) -> list[int]:
        """Fire every schedule rule ``outcome`` meets; the new firings' ids."""
        fired = []
        for rule in self._rules():
            if not isinstance(rule.trigger, ScheduleTrigger):
                continue
            evidence = drift_evidence(rule.trigger, outcome)
            if evidence is None:
                continue
            firing = self._runner.fire(rule, evidence, evidence.event_key, self._now())
            if firing is not None:
                fired.append(firing)
        return fired
