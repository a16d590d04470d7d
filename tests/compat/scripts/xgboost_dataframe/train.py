"""The pattern of AWS's XGBoost script-mode example: trained on a DataFrame (so the booster keeps
feature names), saved as ``xgboost-model``; serving gets CSV rows without names, and the
container's default predict (``validate_features=False``) answers them."""

import os

import pandas as pd
import xgboost as xgb


def model_fn(model_dir):
    """Load the booster saved by training."""
    booster = xgb.Booster()
    booster.load_model(os.path.join(model_dir, "xgboost-model"))
    return booster


if __name__ == "__main__":
    channel = os.environ["SM_CHANNEL_TRAIN"]
    frame = pd.concat(pd.read_csv(os.path.join(channel, f)) for f in sorted(os.listdir(channel)))
    label = frame.pop("target")
    dtrain = xgb.DMatrix(frame, label=label)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 3}, dtrain, 10)
    print("feature names:", booster.feature_names[:3], "...")
    booster.save_model(os.path.join(os.environ["SM_MODEL_DIR"], "xgboost-model"))
