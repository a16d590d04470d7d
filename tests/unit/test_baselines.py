"""The data-quality analyzer: types, numbers and shapes of statistics.json / constraints.json."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer

from kiln.services.monitoring.baselines import (
    InferredType,
    analyze_csv,
    suggest_constraints,
)
from kiln.services.monitoring.baselines.accumulators import bucket_counts
from kiln.services.monitoring.baselines.constraints import suggest_domain


def _csv(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "data.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-2", "+3"], InferredType.INTEGRAL),
        (["1", "2.5"], InferredType.FRACTIONAL),
        (["1e3", "2"], InferredType.FRACTIONAL),
        (["1", "x"], InferredType.STRING),
        (["1", "nan"], InferredType.STRING),
        (["1", ""], InferredType.INTEGRAL),  # missing values don't vote
        (["", " "], InferredType.UNKNOWN),
    ],
)
def test_column_type_is_inferred_from_every_present_value(
    tmp_path: Path, values: list[str], expected: InferredType
) -> None:
    path = _csv(tmp_path, "v\n" + "\n".join(f'"{v}"' for v in values) + "\n")
    assert analyze_csv(path, has_header=True).features[0].inferred_type is expected


def test_type_widens_across_chunks(tmp_path: Path) -> None:
    path = _csv(tmp_path, "v\n1\n2\n3.5\nx\n")
    feature = analyze_csv(path, has_header=True, chunk_rows=1).features[0]
    assert feature.inferred_type is InferredType.STRING


def test_numbers_on_a_small_input(tmp_path: Path) -> None:
    # 1, 2, 3, 6: sum 12, mean 3, population variance (4+1+0+9)/4 = 3.5
    path = _csv(tmp_path, "v\n1\n2\n\n3\n6\n")
    stats = analyze_csv(path, has_header=True, chunk_rows=2).features[0].numerical
    assert stats is not None
    assert (stats.num_present, stats.num_missing) == (4, 0)
    assert (stats.sum, stats.mean, stats.min, stats.max) == (12.0, 3.0, 1.0, 6.0)
    assert stats.std_dev == pytest.approx(3.5**0.5)
    # width 0.5 from 1 to 6: 1 → 0, 2 → 2, 3 → 4, 6 → the last bucket
    assert [b.count for b in stats.buckets] == [1, 0, 1, 0, 1, 0, 0, 0, 0, 1]


def test_missing_values_are_counted(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,b\n1,\n2,x\n,y\n")
    a, b = analyze_csv(path, has_header=True).features
    assert (a.num_present, a.num_missing, b.num_present, b.num_missing) == (2, 1, 2, 1)


def test_malformed_lines_are_counted_and_skipped(tmp_path: Path) -> None:
    path = _csv(tmp_path, "a,b\n1,2\n3\n4,5,6\n7,8\n")
    statistics = analyze_csv(path, has_header=True)
    assert (statistics.item_count, statistics.malformed_lines) == (2, 2)


def test_headerless_columns_get_spark_names(tmp_path: Path) -> None:
    path = _csv(tmp_path, "1,a\n2,b\n")
    statistics = analyze_csv(path, has_header=False)
    assert [f.name for f in statistics.features] == ["_c0", "_c1"]
    assert statistics.item_count == 2


def test_string_statistics_count_each_value(tmp_path: Path) -> None:
    path = _csv(tmp_path, "c\nx\ny\nx\n")
    document = analyze_csv(path, has_header=True).to_document()["features"][0]
    assert document["string_statistics"]["distinct_count"] == 2.0
    assert document["string_statistics"]["distribution"]["categorical"]["buckets"] == [
        {"value": "x", "count": 2},
        {"value": "y", "count": 1},
    ]


@pytest.mark.parametrize(
    ("value_counts", "expected"),
    [
        ((("a", 5), ("b", 3)), ("a", "b")),
        ((("a", 5), ("b", 1)), None),  # half the values seen once: an identifier, not a domain
        (tuple((str(i), 2) for i in range(121)), None),  # too many distinct values
        ((), None),
    ],
)
def test_domain_is_suggested_for_few_repeated_values(
    value_counts: tuple[tuple[str, int], ...], expected: tuple[str, ...] | None
) -> None:
    assert suggest_domain(value_counts) == expected


@pytest.mark.parametrize(
    ("numbers", "low", "high", "expected"),
    [
        ([0.0, 10.0], 0.0, 10.0, [1, 0, 0, 0, 0, 0, 0, 0, 0, 1]),
        ([5.0, 5.0], 5.0, 5.0, [2, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
        ([0.99, 1.0], 0.0, 10.0, [1, 1, 0, 0, 0, 0, 0, 0, 0, 0]),
    ],
)
def test_bucket_counts(numbers: list[float], low: float, high: float, expected: list[int]) -> None:
    assert bucket_counts(np.array(numbers), low, high).tolist() == expected


def test_constraints_document_has_sagemakers_shape(tmp_path: Path) -> None:
    path = _csv(tmp_path, "n,c,e\n1,x,\n2,x,\n-1,y,\n3,y,\n")
    document = suggest_constraints(analyze_csv(path, has_header=True)).to_document()
    assert document["features"] == [
        {"name": "n", "inferred_type": "Integral", "completeness": 1.0,
         "num_constraints": {"is_non_negative": False}},
        {"name": "c", "inferred_type": "String", "completeness": 1.0,
         "string_constraints": {"domains": ["x", "y"]}},
        {"name": "e", "inferred_type": "Unknown", "completeness": 0.0},
    ]  # fmt: skip
    config = document["monitoring_config"]
    assert config["distribution_constraints"]["comparison_threshold"] == 0.1
    assert config["distribution_constraints"]["comparison_method"] == "Robust"
    assert {"evaluate_constraints", "emit_metrics", "datatype_check_threshold"} <= set(config)


@pytest.mark.parametrize("has_header", [True, False])
def test_breast_cancer_statistics_match_numpy(tmp_path: Path, has_header: bool) -> None:
    data = load_breast_cancer()
    path = tmp_path / "train.csv"
    header = ",".join(f'"{n}"' for n in data.feature_names) if has_header else ""
    np.savetxt(path, data.data, delimiter=",", header=header, comments="", fmt="%.17g")
    if not has_header:
        path.write_text(path.read_text().lstrip("\n"))
    statistics = analyze_csv(path, has_header=has_header, chunk_rows=100)
    assert statistics.item_count == len(data.data)
    for column, feature in enumerate(statistics.features):
        values, stats = data.data[:, column], feature.numerical
        assert stats is not None
        assert feature.inferred_type is InferredType.FRACTIONAL
        assert stats.mean == pytest.approx(values.mean(), rel=1e-12)
        assert stats.std_dev == pytest.approx(values.std(), rel=1e-9)
        assert (stats.min, stats.max) == (values.min(), values.max())
        counts, _ = np.histogram(values, bins=10, range=(values.min(), values.max()))
        assert [b.count for b in stats.buckets] == counts.tolist()
        assert len(stats.sketch[0]) == len(values)  # 569 ≤ k: the sample is every value
    names = [f.name for f in statistics.features]
    assert names[0] == ("mean radius" if has_header else "_c0")


def test_sketch_keeps_a_sorted_sample_of_k_values_from_a_long_column(tmp_path: Path) -> None:
    path = _csv(tmp_path, "v\n" + "\n".join(str(i) for i in range(5000)) + "\n")
    stats = analyze_csv(path, has_header=True, chunk_rows=700).features[0].numerical
    assert stats is not None
    sketch = np.array(stats.sketch[0])
    assert len(sketch) == 2048
    assert (np.diff(sketch) >= 0).all()
    assert set(sketch.tolist()) <= set(range(5000))
    assert sketch.max() > 2048  # later values do enter the sample
