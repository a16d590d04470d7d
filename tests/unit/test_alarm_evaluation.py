"""Alarm evaluation as a table: (rule, datapoints newest first, state) → new state and reason."""

from __future__ import annotations

import pytest

from kiln.services.monitoring.alarms.changes import AlarmState
from kiln.services.monitoring.alarms.evaluation import (
    Comparison,
    Datapoint,
    MissingData,
    Rule,
    evaluate,
)

OK, ALARM, NODATA = AlarmState.OK, AlarmState.ALARM, AlarmState.INSUFFICIENT_DATA
GT = Comparison.GREATER


def _points(*values: float | None) -> list[Datapoint]:
    return [Datapoint(1_000_000.0 - 10 * i, v) for i, v in enumerate(values)]


@pytest.mark.parametrize(
    ("rule", "values", "current", "expected"),
    [
        # 1 of 1, > 0: one error in the period → ALARM; none → OK
        (Rule(0.0, GT, 1, 1), (3.0,), OK, ALARM),
        (Rule(0.0, GT, 1, 1), (0.0,), ALARM, OK),
        # each operator at the threshold itself
        (Rule(5.0, Comparison.GREATER_OR_EQUAL, 1, 1), (5.0,), OK, ALARM),
        (Rule(5.0, Comparison.GREATER, 1, 1), (5.0,), ALARM, OK),
        (Rule(5.0, Comparison.LESS, 1, 1), (5.0,), ALARM, OK),
        (Rule(5.0, Comparison.LESS_OR_EQUAL, 1, 1), (5.0,), OK, ALARM),
        # 2 out of 3: two breaching of three → ALARM; one → OK
        (Rule(0.0, GT, 3, 2), (1.0, 0.0, 1.0), OK, ALARM),
        (Rule(0.0, GT, 3, 2), (1.0, 0.0, 0.0), ALARM, OK),
        # missing (default): all empty → INSUFFICIENT_DATA; some present → judged on those
        (Rule(0.0, GT, 3, 1), (None, None, None), OK, NODATA),
        (Rule(0.0, GT, 3, 1), (None, 2.0, None), OK, ALARM),
        # ignore: all empty keeps the state, whichever it is
        (Rule(0.0, GT, 2, 1, MissingData.IGNORE), (None, None), ALARM, ALARM),
        (Rule(0.0, GT, 2, 1, MissingData.IGNORE), (None, None), OK, OK),
        # breaching / notBreaching fill the gaps: 2 of 2 with one empty
        (Rule(0.0, GT, 2, 2, MissingData.BREACHING), (None, 1.0), OK, ALARM),
        (Rule(0.0, GT, 2, 2, MissingData.NOT_BREACHING), (None, 1.0), ALARM, OK),
        (Rule(0.0, GT, 1, 1, MissingData.NOT_BREACHING), (None,), ALARM, OK),
    ],
)
def test_evaluate_decides_the_state(
    rule: Rule, values: tuple[float | None, ...], current: AlarmState, expected: AlarmState
) -> None:
    assert evaluate(rule, _points(*values), current).state is expected


def test_an_alarm_reason_is_in_cloudwatchs_words() -> None:
    verdict = evaluate(Rule(0.0, GT, 1, 1), [Datapoint(0.0, 3.0)], OK)

    assert verdict.reason == (
        "Threshold Crossed: 1 datapoint [3.0 (01/01/70 00:00:00)] was greater than the "
        "threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition)."
    )


def test_a_recovery_reason_says_not_greater() -> None:
    verdict = evaluate(Rule(0.0, GT, 2, 1), [Datapoint(10.0, 0.0), Datapoint(0.0, 0.0)], ALARM)

    assert verdict.reason.startswith("Threshold Crossed: 2 out of the last 2 datapoints")
    assert "were not greater than the threshold (0.0)" in verdict.reason


def test_no_data_says_how_many_datapoints_were_unknown() -> None:
    verdict = evaluate(Rule(0.0, GT, 3, 1), _points(None, None, None), OK)

    assert verdict.reason == "Insufficient Data: 3 datapoints were unknown."
