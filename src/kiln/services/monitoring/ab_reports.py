"""Builds an endpoint's A/B report from the inference log and a ``TrafficSource``."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from kiln.db.inferences import InferenceStore
from kiln.errors import ResourceNotFoundError, ValidationError
from kiln.services.monitoring.ab_test import build_report
from kiln.services.monitoring.report import AbReport
from kiln.services.monitoring.traffic import TrafficSource

DEFAULT_HOURS = 24.0


@dataclass(frozen=True)
class DeployedVariants:
    """The variants an endpoint runs now."""

    production: tuple[str, ...]
    shadows: tuple[str, ...]


class AbReports:
    """Answers "which variant is better?" for an endpoint."""

    def __init__(
        self,
        store: InferenceStore,
        traffic: TrafficSource,
        deployed_variants: Callable[[str], DeployedVariants | None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._traffic = traffic
        self._deployed_variants = deployed_variants
        self._clock = clock

    def report(self, endpoint: str, hours: float = DEFAULT_HOURS) -> AbReport:
        """The report over the last ``hours``; ResourceNotFoundError for an unknown endpoint."""
        deployed = self._deployed_variants(endpoint)
        if deployed is None:
            raise ResourceNotFoundError(f'Could not find endpoint "{endpoint}".')
        if not 0 < hours <= 24 * 366:
            raise ValidationError(f"hours must be more than 0 and at most 8784, not {hours}")
        end = self._clock()
        start = end - hours * 3600
        return build_report(
            endpoint,
            (start, end),
            deployed.production,
            self._traffic.variant_traffic(endpoint, start, end),
            self._store.labelled_predictions(endpoint, start, end),
            deployed.shadows,
        )
