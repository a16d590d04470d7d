"""What the faults run: training scripts, the served model, tarballs and a tar bomb."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

import orjson

from conftest import source_tarball as tarball

# Trains in `steps` steps of `step_seconds`, checkpointing after each to /opt/ml/checkpoints
# (CheckpointConfig's default LocalPath) and resuming from there; the model records where it
# resumed, so a restart that resumed is visible in the artifact.
STEPPING = r"""
import json, os, sys, time
hps = json.loads(os.environ.get("SM_HPS", "{}"))
steps, pause = int(hps.get("steps", 6)), float(hps.get("step_seconds", 1))
model_dir = os.environ["SM_MODEL_DIR"]
checkpoints = os.path.join(os.path.dirname(model_dir), "checkpoints")
os.makedirs(checkpoints, exist_ok=True)
state = os.path.join(checkpoints, "step.json")
start = json.load(open(state))["step"] if os.path.exists(state) else 0
print(f"starting at step {start}", flush=True)
for step in range(start, steps):
    time.sleep(pause)
    with open(state + ".tmp", "w") as f:
        json.dump({"step": step + 1}, f)
    os.replace(state + ".tmp", state)
    print(f"step {step + 1}/{steps}", flush=True)
with open(os.path.join(model_dir, "model.json"), "w") as f:
    json.dump({"steps": steps, "resumed_from": start}, f)
"""

# Hashes every file of the train channel into the model: the data arrived whole or it did not.
DIGEST_CHANNEL = r"""
import hashlib, json, os
root = os.environ["SM_CHANNEL_TRAIN"]
digests = {}
for name in sorted(os.listdir(root)):
    with open(os.path.join(root, name), "rb") as f:
        digests[name] = hashlib.sha256(f.read()).hexdigest()
with open(os.path.join(os.environ["SM_MODEL_DIR"], "digests.json"), "w") as f:
    json.dump(digests, f)
print(f"hashed {len(digests)} files", flush=True)
"""

# Writes `mib` MiB of incompressible bytes as its model (so packing and uploading take a while)
# and their digest beside them.
BIG_MODEL = r"""
import hashlib, json, os
mib = int(json.loads(os.environ.get("SM_HPS", "{}")).get("mib", 64))
model_dir = os.environ["SM_MODEL_DIR"]
digest = hashlib.sha256()
with open(os.path.join(model_dir, "weights.bin"), "wb") as f:
    for _ in range(mib):
        chunk = os.urandom(1 << 20)
        digest.update(chunk)
        f.write(chunk)
with open(os.path.join(model_dir, "weights.sha256"), "w") as f:
    f.write(digest.hexdigest())
print(f"wrote {mib} MiB", flush=True)
"""

# Writes into the model folder until the disk refuses, printing as it goes (the log pump
# writes to the same full disk), then lets the OSError end the job.
FILL_DISK = r"""
import os
path = os.path.join(os.environ["SM_MODEL_DIR"], "filler.bin")
with open(path, "wb") as f:
    for i in range(100000):
        f.write(b"\1" * (1 << 20))
        f.flush()
        print(f"wrote {i + 1} MiB", flush=True)
"""

QUICK = r"""
import os
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
    f.write("trained")
print("done", flush=True)
"""

# Forks until fork fails or `most` children run; odd children leave the job's process group
# (setsid), as a daemonising script does. The cap keeps a Kiln without a pids limit (where the
# bomb never fails) from taking the machine with it. Children keep the parent's command line,
# so the job's marker hyperparameter finds every one of them.
FORK_BOMB = r"""
import json, os, sys, time
most = int(json.loads(os.environ.get("SM_HPS", "{}")).get("most", 500))
made = 0
try:
    for i in range(most):
        if os.fork() == 0:
            if i % 2:
                os.setsid()
            time.sleep(600)
            os._exit(0)
        made += 1
except OSError as e:
    print(f"fork failed after {made} children: {e}", file=sys.stderr, flush=True)
    sys.exit(3)
print(f"forked all {made} children: no process limit stopped the bomb", file=sys.stderr, flush=True)
sys.exit(4)
"""

# Allocates and touches memory until killed, or until `cap_mib` (where no memory limit holds).
MEMORY_BOMB = r"""
import json, os, sys
cap = int(json.loads(os.environ.get("SM_HPS", "{}")).get("cap_mib", 3072))
hog = []
for _ in range(cap // 16):
    hog.append(b"x" * (16 << 20))
print(f"allocated {cap} MiB: no memory limit stopped the bomb", file=sys.stderr, flush=True)
sys.exit(5)
"""

# A model server whose model_fn allocates until killed (or until 3 GiB).
MEMORY_BOMB_INFERENCE = """
def model_fn(model_dir):
    hog = []
    for _ in range(3072 // 16):
        hog.append(b"x" * (16 << 20))
    raise RuntimeError("allocated 3 GiB: no memory limit stopped the bomb")
"""

# A model that loads slowly, so an endpoint stays Creating long enough to be interrupted.
SLOW_LOADING_INFERENCE = """
import time
from pathlib import Path
from kiln.runtime.frameworks import load_model

def model_fn(model_dir):
    time.sleep(4)
    return load_model(Path(model_dir))
"""


def sha256(data: bytes) -> str:
    """The hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class ServedModel:
    """The served model's files, one request body and the answer it must get."""

    files: dict[str, bytes]
    body: bytes
    predictions: list[int]

    def tarball(self, extra: Mapping[str, str | bytes] | None = None) -> bytes:
        """The model.tar.gz: the model, plus ``extra`` files (inference code)."""
        return tarball({**self.files, **(extra or {})})

    def is_right(self, answer: bytes) -> bool:
        """Whether ``answer`` carries the expected predictions."""
        try:
            document = orjson.loads(answer)
        except orjson.JSONDecodeError:
            return False
        return isinstance(document, dict) and document.get("predictions") == self.predictions


@cache
def served_model() -> ServedModel:
    """A small random forest on the breast-cancer data (joblib), as the benchmark's, smaller."""
    import joblib
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import RandomForestClassifier

    x, y = load_breast_cancer(return_X_y=True)
    model = RandomForestClassifier(n_estimators=5, max_depth=4, random_state=0).fit(x, y)
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    rows = x[:4]
    predictions = [int(p) for p in model.predict(rows)]
    body = orjson.dumps({"inputs": rows.tolist()})
    return ServedModel({"model.joblib": buffer.getvalue()}, body, predictions)
