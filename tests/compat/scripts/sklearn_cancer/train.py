"""Train a random forest on the breast-cancer CSV: a SageMaker scikit-learn script-mode script.

Written as AWS's scikit-learn examples are: arguments from the ``SM_*`` variables, the model saved
with joblib in ``SM_MODEL_DIR``, and ``model_fn`` in the same file, because the scikit-learn
serving container imports the training entry point to load the model.
"""

import argparse
import glob
import os

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier


def model_fn(model_dir):
    """Load the model the training run saved."""
    return joblib.load(os.path.join(model_dir, "model.joblib"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--n-estimators", type=int, default=10)
    parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
    args = parser.parse_args()

    files = sorted(glob.glob(os.path.join(args.train, "*.csv")))
    data = np.concatenate([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    y, x = data[:, 0].astype(int), data[:, 1:]
    print(f"training on {len(y)} rows with {x.shape[1]} features from {len(files)} file(s)")
    model = RandomForestClassifier(n_estimators=args.n_estimators, max_depth=4, random_state=0)
    model.fit(x, y)
    print(f"train_accuracy={model.score(x, y):.4f}")
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
