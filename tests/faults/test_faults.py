"""The fault suite's short profile, one test per fault (``make faults`` runs the long one)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from .catalog import Fault, faults_for
from .lab import SHORT
from .runner import run_fault

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]


@pytest.mark.parametrize("fault", faults_for("short"), ids=lambda fault: fault.name)
def test_fault_leaves_nothing_stuck_lost_or_failed(fault: Fault, tmp_path: Path) -> None:
    report = io.StringIO()
    result = run_fault(fault, SHORT, tmp_path, report)
    print(report.getvalue())
    if result.outcome.skipped is not None:
        pytest.skip(result.outcome.skipped)
    if not result.outcome.is_clean:
        pytest.fail(report.getvalue(), pytrace=False)
