"""The pattern of AWS's scikit-learn housing example: the channel is the S3 prefix ``…/csv/train``
and the object ``…/csv/train.csv`` matches it, so the script finds ``train.csv`` in the channel."""

import os

import joblib
import numpy as np
from sklearn.ensemble import RandomForestRegressor


def model_fn(model_dir):
    """Deserialise the fitted model."""
    return joblib.load(os.path.join(model_dir, "model.joblib"))


if __name__ == "__main__":
    channel = os.environ["SM_CHANNEL_TRAIN"]
    print("channel holds:", sorted(os.listdir(channel)))
    data = np.loadtxt(os.path.join(channel, "train.csv"), delimiter=",", skiprows=1)
    x, y = data[:, :-1], data[:, -1]
    model = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0).fit(x, y)
    print(f"train_r2={model.score(x, y):.4f}")
    joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
