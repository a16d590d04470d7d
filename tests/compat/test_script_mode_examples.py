"""The contracts of AWS's published script-mode examples, in scripts of our own, through SDK v2.

Studied in aws/amazon-sagemaker-examples, not copied: scikit-learn iris (pandas, joblib into
SM_MODEL_DIR, ``model_fn`` beside the training code), scikit-learn housing (a channel prefix
``…/csv/train`` matching the object ``…/csv/train.csv``), XGBoost script mode (a DataFrame with
feature names, CSV at predict time) and PyTorch (inference code inside ``model.tar.gz/code``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from .conftest import LONG_PROFILE_ONLY, Clients
from .harness import ROLE, SCRIPTS, ClientVenv

# The SDK v2 notebook (test_sdk_v2.py) drives the same SKLearn estimator path in the short profile.
pytestmark = LONG_PROFILE_ONLY


def _run(clients: Clients, sdk_v2: ClientVenv, pattern: str, data: Path) -> list:
    result, _ = clients.run_script(
        [sdk_v2.python, SCRIPTS / "examples_v2.py", pattern, data, ROLE], timeout=600
    )
    return result["answer"]


def _server_has(module: str, what: str) -> None:
    """Skip unless the job environment (the server's Python) can import ``module``."""
    if importlib.util.find_spec(module) is None:
        pytest.skip(
            f"{module} is not importable in the server's Python, which runs {what} jobs "
            "(kiln/python); no framework image environment provides it yet"
        )


def test_sklearn_iris_pandas_joblib_and_model_fn(
    clients: Clients, sdk_v2: ClientVenv, tmp_path: Path
) -> None:
    from sklearn.datasets import load_iris

    iris = load_iris()
    np.savetxt(tmp_path / "iris.csv", np.column_stack([iris.target, iris.data]), delimiter=",")
    assert [int(c) for c in _run(clients, sdk_v2, "iris", tmp_path)] == list(iris.target[:3])


def test_sklearn_housing_channel_prefix_matches_csv_train_csv(
    clients: Clients, sdk_v2: ClientVenv, tmp_path: Path
) -> None:
    from sklearn.datasets import load_diabetes  # a bundled regression set stands in for housing

    x, y = load_diabetes(return_X_y=True)
    header = ",".join([f"f{i}" for i in range(x.shape[1])] + ["target"])
    np.savetxt(tmp_path / "train.csv", np.column_stack([x, y]), delimiter=",", header=header,
               comments="")  # fmt: skip
    answer = _run(clients, sdk_v2, "housing", tmp_path)
    assert len(answer) == 3
    assert all(25 < v < 350 for v in answer)


def test_xgboost_dataframe_feature_names_then_csv_predict(
    clients: Clients, sdk_v2: ClientVenv, tmp_path: Path, long_profile: None
) -> None:
    from sklearn.datasets import load_breast_cancer

    # The sagemaker-xgboost:1.7-1 image's environment carries xgboost 1.7 and pandas (the job
    # trains on a DataFrame); this process only writes the CSV with a header.
    cancer = load_breast_cancer()
    names = [c.replace(" ", "_") for c in cancer.feature_names]
    np.savetxt(tmp_path / "frame.csv", np.column_stack([cancer.data, cancer.target]),
               delimiter=",", header=",".join([*names, "target"]), comments="")  # fmt: skip
    answer = _run(clients, sdk_v2, "xgboost", tmp_path)
    assert [round(p) for p in answer] == [0, 0, 0]


def test_pytorch_inference_code_inside_model_tarball(
    clients: Clients, sdk_v2: ClientVenv, tmp_path: Path, long_profile: None
) -> None:
    _server_has("torch", "PyTorch")
    (tmp_path / "iris.csv").write_text("0,1,2,3,4\n")
    answer = _run(clients, sdk_v2, "pytorch", tmp_path)
    assert abs(answer[0][0] - 10.0) < 0.5  # the net learnt y = sum(x)


def test_pytorch_estimator_and_repacked_pytorch_model_without_torch(
    clients: Clients, sdk_v2: ClientVenv, tmp_path: Path, long_profile: None
) -> None:
    # torch does not install here within CI's time: the same SDK paths with a numpy model.
    (tmp_path / "iris.csv").write_text("0,1,2,3,4\n")
    answer = _run(clients, sdk_v2, "pytorch_without_torch", tmp_path)
    assert abs(answer[0] - 10.0) < 1e-6  # y = sum(x)
