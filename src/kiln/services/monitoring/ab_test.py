"""The A/B report as a pure function of what was observed: traffic, and labelled predictions.

Rules (docs/ab-testing.md explains them to users):

- **Problem type** from the labels: any text label, or only whole numbers with at most
  ``MAX_CLASSES`` distinct values → classification (accuracy); otherwise regression (RMSE).
- **Right answer**: prediction and label equal as classes (``1``, ``1.0`` and ``"1"`` are one
  class). With labels 0/1 a prediction strictly between 0 and 1 is a probability and counts as
  class 1 from 0.5 up, as a binary classifier's score is usually read.
- **One prediction per InferenceId and variant**: a reused id counts its latest invocation.
- **Baseline**: the production variant with the most labelled requests (then by name); every
  other variant, shadows included, is compared with it.
- **Too little data**: fewer than ``MIN_LABELLED`` labelled requests on either side → no test.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from kiln.db.inferences import Label, LabelledPrediction
from kiln.services.monitoring.report import AbReport, Comparison, ProblemType, VariantReport
from kiln.services.monitoring.significance import (
    Significance,
    Tally,
    compare_accuracy,
    compare_squared_errors,
)
from kiln.services.monitoring.traffic import VariantTraffic

MIN_LABELLED = 20
MAX_CLASSES = 20


@dataclass
class _Outcomes:
    """One variant's labelled predictions, scored."""

    correct: int = 0
    squared_errors: list[float] = field(default_factory=list)
    labelled: int = 0


def build_report(
    endpoint: str,
    window: tuple[float, float],
    production: Sequence[str],
    traffic: Sequence[VariantTraffic],
    labelled: Sequence[LabelledPrediction],
    shadows_now: Sequence[str] = (),
) -> AbReport:
    """The A/B report of ``endpoint`` over ``window`` (epoch s, start and end).

    A variant is a shadow if the endpoint has it as one now or its predictions were shadow
    copies; one the endpoint no longer has (replaced by an update) counts as production.
    """
    latest = latest_predictions(labelled)
    shadows = {p.variant for p in latest if p.is_shadow} | set(shadows_now)
    names = sorted(
        {*production, *shadows, *(t.variant for t in traffic), *(p.variant for p in latest)}
    )
    problem = problem_type([p.label for p in latest]) if latest else None
    outcomes = {name: _score([p for p in latest if p.variant == name], problem) for name in names}
    by_name = {t.variant: t for t in traffic}
    total = sum(t.invocations for t in traffic if t.variant not in shadows)
    variants = tuple(
        _variant(name, name in shadows, by_name.get(name), total, outcomes[name], problem)
        for name in names
    )
    comparisons = _comparisons(names, shadows, outcomes, problem)
    return AbReport(
        endpoint, window[0], window[1], problem, variants, comparisons,
        _overall(endpoint, names, latest, comparisons),
    )  # fmt: skip


def latest_predictions(labelled: Sequence[LabelledPrediction]) -> list[LabelledPrediction]:
    """The latest prediction of each (InferenceId, variant), answers that were not one dropped."""
    latest: dict[tuple[str, str], LabelledPrediction] = {}
    for p in sorted(labelled, key=lambda p: p.arrived_at):
        latest[(p.inference_id, p.variant)] = p
    return [p for p in latest.values() if p.prediction is not None]


def problem_type(labels: Sequence[Label]) -> ProblemType:
    """Classification when labels are text or few whole numbers; regression otherwise."""
    if any(isinstance(label, str) for label in labels):
        return ProblemType.CLASSIFICATION
    numbers = [float(label) for label in labels]
    if all(n.is_integer() for n in numbers) and len(set(numbers)) <= MAX_CLASSES:
        return ProblemType.CLASSIFICATION
    return ProblemType.REGRESSION


def is_correct(prediction: Label, label: Label, *, is_binary: bool) -> bool:
    """Whether ``prediction`` names the class ``label`` does."""
    if is_binary and isinstance(prediction, float) and 0 < prediction < 1:
        prediction = 1.0 if prediction >= 0.5 else 0.0
    return _class(prediction) == _class(label)


def _class(value: Label) -> str:
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return value.strip()
    else:
        number = value
    return str(int(number)) if number.is_integer() else repr(number)


def _score(predictions: list[LabelledPrediction], problem: ProblemType | None) -> _Outcomes:
    outcomes = _Outcomes()
    if problem is ProblemType.CLASSIFICATION:
        is_binary = {_class(p.label) for p in predictions} <= {"0", "1"}
        for p in predictions:
            if p.prediction is not None:
                outcomes.correct += is_correct(p.prediction, p.label, is_binary=is_binary)
                outcomes.labelled += 1
    elif problem is ProblemType.REGRESSION:
        for p in predictions:
            if isinstance(p.prediction, float) and isinstance(p.label, float):
                outcomes.squared_errors.append((p.prediction - p.label) ** 2)
        outcomes.labelled = len(outcomes.squared_errors)
    return outcomes


def _variant(
    name: str,
    is_shadow: bool,
    traffic: VariantTraffic | None,
    production_total: int,
    outcomes: _Outcomes,
    problem: ProblemType | None,
) -> VariantReport:
    invocations = traffic.invocations if traffic else 0
    labelled = outcomes.labelled
    errors = outcomes.squared_errors
    return VariantReport(
        variant=name,
        is_shadow=is_shadow,
        invocations=invocations,
        traffic_share=invocations / production_total if production_total else None,
        latency_p50_ms=_ms(traffic.latency_p50_us if traffic else None),
        latency_p95_ms=_ms(traffic.latency_p95_us if traffic else None),
        latency_p99_ms=_ms(traffic.latency_p99_us if traffic else None),
        client_error_rate=_rate(traffic.client_errors, invocations) if traffic else None,
        server_error_rate=_rate(traffic.server_errors, invocations) if traffic else None,
        model_error_rate=_rate(traffic.model_errors, invocations) if traffic else None,
        labelled=labelled,
        accuracy=outcomes.correct / labelled
        if problem is ProblemType.CLASSIFICATION and labelled
        else None,
        rmse=math.sqrt(sum(errors) / len(errors)) if errors else None,
    )


def _ms(microseconds: float | None) -> float | None:
    return None if microseconds is None else microseconds / 1000


def _rate(count: int, invocations: int) -> float | None:
    return count / invocations if invocations else None


def _comparisons(
    names: list[str],
    shadows: set[str],
    outcomes: dict[str, _Outcomes],
    problem: ProblemType | None,
) -> tuple[Comparison, ...]:
    names = [n for n in names if outcomes[n].labelled]  # nothing to test without labels
    if problem is None or len(names) < 2:
        return ()
    candidates = [n for n in names if n not in shadows] or names
    baseline = max(candidates, key=lambda n: outcomes[n].labelled)  # ties: the first by name
    return tuple(
        compare(baseline, name, outcomes[baseline], outcomes[name], problem, name in shadows)
        for name in names
        if name != baseline
    )


def compare(
    baseline: str,
    challenger: str,
    base: _Outcomes,
    other: _Outcomes,
    problem: ProblemType,
    is_shadow: bool,
) -> Comparison:
    """The test of ``challenger`` against ``baseline``, with its verdict in plain words."""
    metric = "accuracy" if problem is ProblemType.CLASSIFICATION else "rmse"
    shown = f"shadow {challenger}" if is_shadow else challenger
    if min(base.labelled, other.labelled) < MIN_LABELLED:
        verdict = (
            f"not enough data: {baseline} has {base.labelled} labelled requests and {shown} "
            f"{other.labelled}; at least {MIN_LABELLED} each are needed for a test"
        )
        return Comparison(baseline, challenger, metric, None, None, None, verdict)
    if problem is ProblemType.CLASSIFICATION:
        result = compare_accuracy(
            Tally(base.correct, base.labelled), Tally(other.correct, other.labelled)
        )
        base_value, other_value = base.correct / base.labelled, other.correct / other.labelled
    else:
        result = compare_squared_errors(base.squared_errors, other.squared_errors)
        base_value = math.sqrt(sum(base.squared_errors) / base.labelled)
        other_value = math.sqrt(sum(other.squared_errors) / other.labelled)
    more = None
    if result.samples_needed is not None:
        more = max(0, result.samples_needed - min(base.labelled, other.labelled))
    verdict = _verdict(baseline, shown, problem, result, (base_value, other_value), more)
    return Comparison(baseline, challenger, metric, result.test, result.p_value, more, verdict)


def _verdict(
    baseline: str,
    challenger: str,
    problem: ProblemType,
    result: Significance,
    values: tuple[float, float],
    more: int | None,
) -> str:
    p = _p(result.p_value)
    if result.is_significant:
        # Higher accuracy is better; lower RMSE is.
        is_challenger_better = (values[1] > values[0]) == (problem is ProblemType.CLASSIFICATION)
        better, worse = (challenger, baseline) if is_challenger_better else (baseline, challenger)
        if problem is ProblemType.CLASSIFICATION:
            return f"{better} is more accurate than {worse} ({p})"
        return f"{better} has lower error (RMSE) than {worse} ({p})"
    if more is None:
        return f"no difference between {baseline} and {challenger} ({p})"
    if more == 0:
        return (
            f"no significant difference between {baseline} and {challenger} ({p}), with enough "
            "labelled requests to find the observed difference: it is likely noise"
        )
    return (
        f"no significant difference yet between {baseline} and {challenger} ({p}); about "
        f"{more} more labelled requests per variant needed"
    )


def _p(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def _overall(
    endpoint: str,
    names: list[str],
    latest: list[LabelledPrediction],
    comparisons: tuple[Comparison, ...],
) -> str:
    if not latest:
        return (
            "no labelled requests yet: invoke with an InferenceId and send ground truth to "
            f"POST /kiln/v1/endpoints/{endpoint}/feedback"
        )
    if not comparisons:
        labelled = sorted({p.variant for p in latest})
        return f"only {', '.join(labelled)} has labelled requests: nothing to compare yet"
    return "; ".join(c.verdict for c in comparisons)
