"""Regression metrics with SageMaker's names: mae, mse, rmse and r2 (coefficient of
determination, 1 - residual sum of squares / total sum of squares about the labels' mean)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]


def regression_metrics(actual: FloatArray, predicted: FloatArray) -> dict[str, float]:
    """mae, mse, rmse and r2 of ``predicted`` against ``actual``, in SageMaker's order."""
    if actual.size == 0:
        return {name: float("nan") for name in ("mae", "mse", "rmse", "r2")}
    errors = predicted - actual
    mse = float(np.mean(errors * errors))
    total = float(np.sum((actual - actual.mean()) ** 2))
    residual = float(np.sum(errors * errors))
    # Labels that never vary leave r2 undefined: NaN, not a division error.
    r2 = 1.0 - residual / total if total > 0 else float("nan")
    return {"mae": float(np.mean(np.abs(errors))), "mse": mse, "rmse": mse**0.5, "r2": r2}
