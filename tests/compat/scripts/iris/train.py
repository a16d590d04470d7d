"""The pattern of AWS's scikit-learn iris example: pandas reads the channel, joblib saves to
SM_MODEL_DIR, and ``model_fn`` in the same file loads it for serving."""

import argparse
import os

import joblib
import pandas as pd
from sklearn import tree


def model_fn(model_dir):
    """Deserialise the fitted model."""
    return joblib.load(os.path.join(model_dir, "model.joblib"))


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--max_leaf_nodes", type=int, default=-1)
    parser.add_argument("--output-data-dir", type=str, default=os.environ["SM_OUTPUT_DATA_DIR"])
    parser.add_argument("--model-dir", type=str, default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", type=str, default=os.environ["SM_CHANNEL_TRAIN"])
    args = parser.parse_args()

    input_files = [os.path.join(args.train, f) for f in os.listdir(args.train)]
    if not input_files:
        raise ValueError(f"There are no files in {args.train}.")
    train_data = pd.concat([pd.read_csv(f, header=None, engine="python") for f in input_files])
    train_y = train_data.iloc[:, 0]
    train_X = train_data.iloc[:, 1:]
    max_leaf_nodes = args.max_leaf_nodes if args.max_leaf_nodes > 0 else None
    clf = tree.DecisionTreeClassifier(max_leaf_nodes=max_leaf_nodes).fit(train_X, train_y)
    print(f"train_accuracy={clf.score(train_X, train_y):.4f}")
    joblib.dump(clf, os.path.join(args.model_dir, "model.joblib"))
