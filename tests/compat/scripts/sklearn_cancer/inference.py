"""Serve the model ``train.py`` saved: the inference script a repacked ``Model`` runs.

The default ``input_fn`` decodes the request (CSV, JSON or NPY); ``predict_fn`` answers each row's
class and its class-1 probability, which the default ``output_fn`` writes as JSON.
"""

import os

import joblib
import numpy as np


def model_fn(model_dir):
    """Load ``model.joblib`` from the model folder (the repack put this file under ``code/``)."""
    assert os.path.exists(os.path.join(model_dir, "code", "inference.py")), os.listdir(model_dir)
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(input_data, model):
    """Classes and class-1 probabilities."""
    rows = np.atleast_2d(np.asarray(input_data, dtype=float))
    return {
        "predictions": model.predict(rows).tolist(),
        "probabilities": model.predict_proba(rows)[:, 1].round(4).tolist(),
    }
