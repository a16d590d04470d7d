"""Serve the random forest of ``train.py``: a SageMaker scikit-learn inference entry point.

Runs unchanged on SageMaker and on Kiln (``Model(..., entry_point="inference.py")``, or
``estimator.deploy(entry_point="inference.py")``, which takes it from the training code). The
request is rows of features (JSON, CSV or NPY, decoded by the container's default ``input_fn``);
the answer says each row's class and its probability of class 1 (benign, in the breast-cancer
data), as JSON.
"""

from __future__ import annotations

import os
from typing import Any

import joblib
import numpy as np


def model_fn(model_dir: str) -> Any:
    """Load ``model.joblib``, as ``train.py`` saved it."""
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(input_data: np.ndarray, model: Any) -> dict[str, list[Any]]:
    """Classes and class-1 probabilities for each row."""
    rows = np.atleast_2d(input_data)
    return {
        "predictions": model.predict(rows).tolist(),
        "probabilities": model.predict_proba(rows)[:, 1].round(4).tolist(),
    }
