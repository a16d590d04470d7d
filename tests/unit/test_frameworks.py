"""Built-in model loading and prediction (kiln.runtime.frameworks)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest
from sklearn.linear_model import LinearRegression

from kiln.runtime.frameworks import ModelNotFoundError, find_model_file, load_model, predictor_for


def linear() -> LinearRegression:
    """y = 2x, fitted."""
    return LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0])


def test_joblib_model_loads_and_predicts_through_its_predict(tmp_path: Path) -> None:
    joblib.dump(linear(), tmp_path / "model.joblib")
    predict = predictor_for(load_model(tmp_path))
    np.testing.assert_allclose(predict(np.array([[3.0]])), [6.0])


def test_preferred_name_wins_over_other_files_of_its_format(tmp_path: Path) -> None:
    for name in ("encoder.pkl", "model.pkl", "scaler.pkl"):
        (tmp_path / name).write_bytes(b"")
    assert find_model_file(tmp_path) == (tmp_path / "model.pkl", "scikit-learn (joblib/pickle)")


def test_single_file_of_a_format_is_found_under_any_name(tmp_path: Path) -> None:
    (tmp_path / "classifier.pickle").write_bytes(b"")
    (tmp_path / "README.md").write_text("")
    assert find_model_file(tmp_path)[0] == tmp_path / "classifier.pickle"


def test_several_files_of_a_format_without_a_preferred_name_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "a.joblib").write_bytes(b"")
    (tmp_path / "b.joblib").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="several .*: a.joblib, b.joblib"):
        find_model_file(tmp_path)


def test_no_known_file_is_an_error_naming_what_was_found(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match=r"found: weights.bin\).*define model_fn"):
        find_model_file(tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("torch") is not None, reason="torch is installed")
def test_torchscript_file_without_torch_says_torch_is_missing(tmp_path: Path) -> None:
    (tmp_path / "model.pt").write_bytes(b"")
    with pytest.raises(ModelNotFoundError, match="model.pt looks like PyTorch .* torch is not"):
        find_model_file(tmp_path)


@pytest.mark.skipif(importlib.util.find_spec("xgboost") is not None, reason="xgboost is installed")
def test_stray_json_file_is_not_blamed_on_missing_xgboost(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ModelNotFoundError) as info:
        find_model_file(tmp_path)
    assert "xgboost is not installed" not in str(info.value)


def test_callable_model_without_predict_is_called() -> None:
    assert predictor_for(lambda data: data + 1)(1) == 2


def test_model_neither_predicting_nor_callable_is_a_type_error() -> None:
    model: Any = object()
    with pytest.raises(TypeError, match="object, which has no predict method"):
        predictor_for(model)


def test_xgboost_model_with_feature_names_predicts_on_unnamed_columns(tmp_path: Path) -> None:
    xgb: Any = pytest.importorskip("xgboost")
    x = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 0.0], [1.0, 1.0]] * 5)
    y = x[:, 0]
    train = xgb.DMatrix(x, label=y, feature_names=["age", "income"])  # as from a DataFrame
    booster = xgb.train({"objective": "reg:squarederror"}, train, num_boost_round=20)
    booster.save_model(str(tmp_path / "model.json"))
    predict = predictor_for(load_model(tmp_path))
    # A CSV or NumPy body has no column names; the container predicts with validate_features=False.
    predictions = predict(np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert predictions[0] > 0.5 > predictions[1]
