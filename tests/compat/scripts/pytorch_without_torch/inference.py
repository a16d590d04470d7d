"""Serving code the SDK repacks into the model (SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code)."""

import os

import numpy as np


def model_fn(model_dir):
    return np.load(os.path.join(model_dir, "weights.npy"))


def predict_fn(input_data, model):
    return np.atleast_2d(np.asarray(input_data, dtype=float)) @ model
