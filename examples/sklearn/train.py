"""Train a random forest on CSV data: a SageMaker scikit-learn script-mode entry point.

Runs unchanged on SageMaker and on Kiln. Each CSV file in the ``train`` channel holds one example
per row, the label in a column named ``target`` (or else in the first column), an optional
header row. Prints ``train_accuracy=…`` and ``validation_accuracy=…`` for MetricDefinitions and
saves ``model.joblib`` in the model directory.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import joblib
import numpy as np
from sklearn.ensemble import RandomForestClassifier
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split


def parse_args() -> argparse.Namespace:
    """Hyperparameters arrive as ``--name value``; folders from the ``SM_*`` variables."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n-estimators", type=int, default=100)
    parser.add_argument("--max-depth", type=int, default=None)
    parser.add_argument("--min-samples-leaf", type=int, default=1)
    parser.add_argument("--validation-fraction", type=float, default=0.2)
    parser.add_argument("--random-state", type=int, default=0)
    # Outside a training job there are no SM_* variables: then the folders must be given.
    parser.add_argument(
        "--model-dir",
        default=os.environ.get("SM_MODEL_DIR"),
        required="SM_MODEL_DIR" not in os.environ,
    )
    parser.add_argument(
        "--train",
        default=os.environ.get("SM_CHANNEL_TRAIN"),
        required="SM_CHANNEL_TRAIN" not in os.environ,
    )
    parser.add_argument("--validation", default=os.environ.get("SM_CHANNEL_VALIDATION"))
    return parser.parse_args()


def read_rows(folder: str) -> tuple[np.ndarray, np.ndarray]:
    """Features and labels from every ``*.csv`` under ``folder``."""
    files = sorted(Path(folder).rglob("*.csv"))
    if not files:
        raise ValueError(f"no .csv files in {folder}")
    features, labels = [], []
    for path in files:
        with open(path, newline="") as f:
            rows = [row for row in csv.reader(f) if row]
        label_at = 0
        if rows and not _is_numeric(rows[0]):
            header, rows = rows[0], rows[1:]
            label_at = header.index("target") if "target" in header else 0
        for row in rows:
            labels.append(row[label_at])
            features.append([float(v) for i, v in enumerate(row) if i != label_at])
    return np.asarray(features), _as_labels(labels)


def _is_numeric(row: list[str]) -> bool:
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True


def _as_labels(values: list[str]) -> np.ndarray:
    """Whole-number labels as ints (``"1.0"`` → 1), anything else as the strings it is."""
    try:
        numbers = np.asarray(values, dtype=float)
    except ValueError:
        return np.asarray(values)
    return numbers.astype(int) if np.all(numbers == np.round(numbers)) else numbers


def main() -> None:
    """Fit, report accuracy on the training and held-out data, save the model."""
    args = parse_args()
    x, y = read_rows(args.train)
    if args.validation:
        x_val, y_val = read_rows(args.validation)
    else:
        x, x_val, y, y_val = train_test_split(
            x, y, test_size=args.validation_fraction, random_state=args.random_state, stratify=y
        )
    print(f"training on {len(y)} rows, validating on {len(y_val)}, {x.shape[1]} features")
    model = RandomForestClassifier(
        n_estimators=args.n_estimators,
        max_depth=args.max_depth,
        min_samples_leaf=args.min_samples_leaf,
        random_state=args.random_state,
    )
    model.fit(x, y)
    print(f"train_accuracy={accuracy_score(y, model.predict(x)):.4f}")
    print(f"validation_accuracy={accuracy_score(y_val, model.predict(x_val)):.4f}")
    os.makedirs(args.model_dir, exist_ok=True)
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
    print(f"model saved to {os.path.join(args.model_dir, 'model.joblib')}")


if __name__ == "__main__":
    main()
