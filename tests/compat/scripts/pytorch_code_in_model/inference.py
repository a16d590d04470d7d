"""Serving code that lives in ``model.tar.gz`` under ``code/`` (SAGEMAKER_PROGRAM=inference.py)."""

import os

import torch
from train import Net


def model_fn(model_dir):
    model = Net()
    model.load_state_dict(torch.load(os.path.join(model_dir, "model.pth")))
    return model.eval()


def predict_fn(input_data, model):
    with torch.no_grad():
        return model(torch.as_tensor(input_data, dtype=torch.float32)).numpy()
