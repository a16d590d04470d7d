"""A PyTorch-estimator script that needs no torch: the SDK paths of AWS's PyTorch example
(``PyTorch(...).fit()``, then ``PyTorchModel(entry_point=…, source_dir=…).deploy()``, which
repacks the code into ``model.tar.gz`` under ``code/``), on a machine where torch is not
installed. The model is y = sum(x), fitted by least squares with numpy."""

import os

import numpy as np

if __name__ == "__main__":
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4))
    y = x.sum(axis=1)
    weights, *_ = np.linalg.lstsq(x, y, rcond=None)
    print(f"weights={np.round(weights, 3).tolist()}")
    np.save(os.path.join(os.environ["SM_MODEL_DIR"], "weights.npy"), weights)
