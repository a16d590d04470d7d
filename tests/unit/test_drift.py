"""Drift metrics from two data sets' statistics: same law → small, shifted → flagged."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import orjson
import pytest
from sklearn.datasets import load_breast_cancer

from kiln.services.monitoring.baselines import (
    DatasetFormat,
    DatasetKind,
    Statistics,
    analyze_csv,
    analyze_dataset,
    check_constraints,
    distances,
    drift_metrics,
    suggest_constraints,
)

ROWS = 20_000


def _analyze(tmp_path: Path, name: str, data: np.ndarray) -> Statistics:
    path = tmp_path / f"{name}.csv"
    header = ",".join(f"f{i}" for i in range(data.shape[1]))
    np.savetxt(path, data, delimiter=",", header=header, comments="", fmt="%.6f")
    return analyze_csv(path, has_header=True)


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory) -> Statistics:
    data = np.random.default_rng(1).normal(size=(ROWS, 5))
    return _analyze(tmp_path_factory.mktemp("baseline"), "baseline", data)


def test_same_distribution_drifts_little(tmp_path: Path, baseline: Statistics) -> None:
    current = _analyze(tmp_path, "same", np.random.default_rng(2).normal(size=(ROWS, 5)))
    for drift in drift_metrics(current, baseline):
        assert drift.ks < 0.07  # two samples of 2048: KS noise ~ 1.36 √(2/2048) ≈ 0.04 at 95 %
        assert drift.baseline_drift < 0.05
        assert drift.psi < 0.02
        assert drift.js < 0.05
    assert check_constraints(current, baseline, suggest_constraints(baseline)).violations == ()


def test_one_standard_deviation_shift_gives_ks_near_0_38(
    tmp_path: Path, baseline: Statistics
) -> None:
    data = np.random.default_rng(3).normal(size=(ROWS, 5)) + 1.0
    drifts = drift_metrics(_analyze(tmp_path, "shifted", data), baseline)
    # max |Φ(x) − Φ(x − 1)| is at x = 0.5: 2 Φ(0.5) − 1 ≈ 0.383
    for drift in drifts:
        assert drift.ks == pytest.approx(0.383, abs=0.05)
        assert drift.psi > 0.5
        assert 0.2 < drift.js < 0.5


def test_two_of_five_shifted_features_are_exactly_the_violations(
    tmp_path: Path, baseline: Statistics
) -> None:
    data = np.random.default_rng(4).normal(size=(ROWS, 5))
    data[:, [1, 3]] += 1.0
    current = _analyze(tmp_path, "two", data)
    violations = check_constraints(current, baseline, suggest_constraints(baseline)).violations
    assert sorted((v.feature_name, str(v.check)) for v in violations) == [
        ("f1", "baseline_drift_check"),
        ("f3", "baseline_drift_check"),
    ]
    assert violations[0].description.startswith("Baseline drift distance: 0.3")


def test_categorical_drift_uses_value_shares(tmp_path: Path) -> None:
    base = tmp_path / "base.csv"
    base.write_text("c\n" + "a\n" * 60 + "b\n" * 40, encoding="utf-8")
    cur = tmp_path / "cur.csv"
    cur.write_text("c\n" + "a\n" * 30 + "b\n" * 40 + "z\n" * 30, encoding="utf-8")
    (drift,) = drift_metrics(analyze_csv(cur, True), analyze_csv(base, True))
    assert drift.ks == pytest.approx(0.3)  # a: 0.6 → 0.3, z: 0 → 0.3
    assert drift.baseline_drift == pytest.approx(0.3 - 1.8 * math.sqrt(200 / 10_000))  # ≈ 0.045
    # z's baseline share is floored at 1e-4: (0.3 − 1e-4) ln(0.3 / 1e-4) ≈ 2.40 dominates
    assert drift.psi == pytest.approx(
        (0.3 - 0.6) * math.log(0.5) + (0.3 - 1e-4) * math.log(0.3 / 1e-4), rel=1e-6
    )


@pytest.mark.parametrize(
    ("linf", "n", "m", "expected"),
    [
        (0.5, 100, 100, 0.5 - 1.8 * math.sqrt(200 / 10_000)),
        (0.1, 100, 100, 0.0),  # below the noise term: floored
        (0.2, 0, 100, 0.2),  # nothing to correct against
    ],
)
def test_robust_correction(linf: float, n: int, m: int, expected: float) -> None:
    assert distances.robust(linf, n, m) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("expected", "actual", "psi", "js"),
    [
        ([50, 50], [50, 50], 0.0, 0.0),
        ([1, 0], [0, 1], 2 * (1 - 1e-4) * math.log(1 / 1e-4), 1.0),  # disjoint: JS is 1
    ],
)
def test_psi_and_js_on_counts(
    expected: list[float], actual: list[float], psi: float, js: float
) -> None:
    e, a = np.array(expected, dtype=float), np.array(actual, dtype=float)
    assert distances.psi(e, a) == pytest.approx(psi)
    assert distances.js(e, a) == pytest.approx(js)


def test_weighted_cdf_distance_uses_sketch_weights() -> None:
    # a: 0 with weight 3, 1 with weight 1 → CDF(0) = 0.75; b: 0 and 1 equally → 0.5
    a = (np.array([0.0, 1.0]), np.array([3.0, 1.0]))
    b = (np.array([0.0, 1.0]), np.array([1.0, 1.0]))
    assert distances.cdf_distance(a, b) == pytest.approx(0.25)


def _capture_file(path: Path, rows: np.ndarray) -> Path:
    lines = (
        orjson.dumps(
            {
                "captureData": {
                    "endpointInput": {
                        "observedContentType": "text/csv",
                        "mode": "INPUT",
                        "data": ",".join(f"{v:.17g}" for v in row),
                        "encoding": "CSV",
                    }
                },
                "eventMetadata": {"eventId": str(i), "inferenceTime": "2026-01-01T00:00:00Z"},
                "eventVersion": "0",
            }
        )
        for i, row in enumerate(rows.tolist())
    )
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


@pytest.mark.parametrize("shifted", [(), (0, 7)])
def test_breast_cancer_capture_flags_exactly_the_shifted_features(
    tmp_path: Path, shifted: tuple[int, ...]
) -> None:
    data = load_breast_cancer()
    train = tmp_path / "train.csv"
    header = ",".join(f'"{n}"' for n in data.feature_names)
    np.savetxt(train, data.data, delimiter=",", header=header, comments="", fmt="%.17g")
    baseline = analyze_dataset([train], DatasetFormat(DatasetKind.CSV, header=True))
    traffic = data.data[np.random.default_rng(5).integers(0, len(data.data), 3000)]
    traffic[:, list(shifted)] += data.data[:, list(shifted)].std(axis=0)
    window = analyze_dataset(
        [_capture_file(tmp_path / "capture.jsonl", traffic)],
        DatasetFormat(DatasetKind.CAPTURE),
        feature_names=[f.name for f in baseline.features],
    )
    violations = check_constraints(window, baseline, suggest_constraints(baseline)).violations
    assert sorted((v.feature_name, str(v.check)) for v in violations) == sorted(
        (str(data.feature_names[i]), "baseline_drift_check") for i in shifted
    )
