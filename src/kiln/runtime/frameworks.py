"""Built-in ``model_fn`` and ``predict_fn`` for when the user's code does not define them.

:func:`load_model` picks the model file in the model folder's top level by its name, in this order
(the first format with a match wins; two matching files of one format and no preferred name is an
error, never a guess):

| format              | preferred names                       | else one of        | needs       |
|---------------------|---------------------------------------|--------------------|-------------|
| scikit-learn        | model.joblib, model.pkl, model.pickle | *.joblib *.pkl     | joblib      |
|   (joblib/pickle)   |                                       | *.pickle           |             |
| PyTorch TorchScript | model.pt, model.pth                   | *.pt *.pth         | torch       |
| ONNX                | model.onnx                            | *.onnx             | onnxruntime |
| XGBoost             | xgboost-model, model.json, model.ubj  | *.ubj *.bst *.json | xgboost     |

:func:`predictor_for` gives the call that predicts with a loaded model: TorchScript and
``nn.Module`` under ``inference_mode``, an ONNX ``InferenceSession``'s first input, an XGBoost
``Booster`` through a ``DMatrix`` without checking feature names (as SageMaker's XGBoost container
does), else the model's ``predict`` (scikit-learn and anything shaped
like it), else the model itself if callable. Optional frameworks are imported only when a model
needs them, so the replica starts without them.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

Predict = Callable[[Any], Any]


class ModelNotFoundError(FileNotFoundError):
    """The model folder holds no file a built-in loader knows, or several that fit equally."""


@dataclass(frozen=True)
class _Format:
    name: str
    module: str
    preferred: tuple[str, ...]
    patterns: tuple[str, ...]
    load: Callable[[Path], Any]


def _load_joblib(path: Path) -> Any:
    # joblib also reads plain pickles, which is what SageMaker's sklearn examples write.
    return importlib.import_module("joblib").load(path)


def _load_torchscript(path: Path) -> Any:
    torch: Any = importlib.import_module("torch")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = torch.jit.load(str(path), map_location=device)
    model.eval()
    return model


def _load_onnx(path: Path) -> Any:
    ort: Any = importlib.import_module("onnxruntime")
    return ort.InferenceSession(str(path), providers=ort.get_available_providers())


def _load_xgboost(path: Path) -> Any:
    xgb: Any = importlib.import_module("xgboost")
    booster = xgb.Booster()
    try:
        booster.load_model(str(path))
    except xgb.core.XGBoostError:
        # SageMaker's XGBoost container also accepts a pickled model under these names.
        return _load_joblib(path)
    return booster


_FORMATS = (
    _Format(
        "scikit-learn (joblib/pickle)",
        "joblib",
        ("model.joblib", "model.pkl", "model.pickle"),
        ("*.joblib", "*.pkl", "*.pickle"),
        _load_joblib,
    ),
    _Format(
        "PyTorch TorchScript",
        "torch",
        ("model.pt", "model.pth"),
        ("*.pt", "*.pth"),
        _load_torchscript,
    ),
    _Format("ONNX", "onnxruntime", ("model.onnx",), ("*.onnx",), _load_onnx),
    _Format(
        "XGBoost",
        "xgboost",
        ("xgboost-model", "model.json", "model.ubj"),
        ("*.ubj", "*.bst", "*.json"),
        _load_xgboost,
    ),
)


def find_model_file(model_dir: Path) -> tuple[Path, str]:
    """The model file in ``model_dir`` and its format's name, or :class:`ModelNotFoundError`."""
    files = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    missing: list[str] = []
    for fmt in _FORMATS:
        if importlib.util.find_spec(fmt.module) is None:
            missing.extend(
                f"{p.name} looks like {fmt.name}, but {fmt.module} is not installed"
                for p in files
                if _names_format(fmt, p)
            )
            continue
        path = _match(fmt, files)
        if path is not None:
            return path, fmt.name
    found = ", ".join(p.name for p in files[:20]) or "nothing"
    hints = "; ".join(missing) + "; " if missing else ""
    raise ModelNotFoundError(
        f"no model file Kiln can load in {model_dir} (found: {found}); {hints}expected "
        "model.joblib/*.pkl (scikit-learn), *.pt (TorchScript), *.onnx (ONNX) or "
        "xgboost-model/*.json/*.ubj (XGBoost) — or define model_fn in code/inference.py"
    )


def load_model(model_dir: Path) -> Any:
    """The model in ``model_dir``, loaded with the framework its file name implies."""
    path, name = find_model_file(model_dir)
    fmt = next(f for f in _FORMATS if f.name == name)
    return fmt.load(path)


def predictor_for(model: Any) -> Predict:
    """The default ``predict_fn`` for ``model``, bound to it: ``data`` in, prediction out."""
    for predictor in (_torch_predictor, _onnx_predictor, _xgboost_predictor):
        predict = predictor(model)
        if predict is not None:
            return predict
    method = getattr(model, "predict", None)
    if callable(method):
        return method  # type: ignore[no-any-return]
    if callable(model):
        return model  # type: ignore[no-any-return]
    raise TypeError(
        f"the model is a {type(model).__name__}, which has no predict method and is not "
        "callable; define predict_fn in code/inference.py"
    )


def _match(fmt: _Format, files: list[Path]) -> Path | None:
    for name in fmt.preferred:
        for path in files:
            if path.name == name:
                return path
    matches = [p for p in files if any(p.match(pattern) for pattern in fmt.patterns)]
    if len(matches) > 1:
        names = ", ".join(p.name for p in matches)
        raise ModelNotFoundError(
            f"several {fmt.name} files and none named {fmt.preferred[0]}: {names}; "
            "rename the one to serve, or define model_fn in code/inference.py"
        )
    return matches[0] if matches else None


def _names_format(fmt: _Format, path: Path) -> bool:
    # *.json alone says nothing (configs, tokenizers): only a hint when the name is a known one.
    patterns = [pattern for pattern in fmt.patterns if pattern != "*.json"]
    return path.name in fmt.preferred or any(path.match(pattern) for pattern in patterns)


def _torch_predictor(model: Any) -> Predict | None:
    # A model can only be a torch module if torch is already imported: no import just to check.
    torch: Any = sys.modules.get("torch")
    if torch is None or not isinstance(model, torch.nn.Module):
        return None
    parameter = next(iter(model.parameters()), None)
    device = parameter.device if parameter is not None else torch.device("cpu")

    def predict(data: Any) -> Any:
        tensor = torch.as_tensor(data)
        if tensor.dtype == torch.float64:
            tensor = tensor.float()
        with torch.inference_mode():
            output = model(tensor.to(device))
        return output.cpu().numpy() if isinstance(output, torch.Tensor) else output

    return predict


_ONNX_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
}


def _onnx_predictor(model: Any) -> Predict | None:
    ort: Any = sys.modules.get("onnxruntime")
    if ort is None or not isinstance(model, ort.InferenceSession):
        return None
    first = model.get_inputs()[0]
    dtype = _ONNX_DTYPES.get(first.type)
    names = [output.name for output in model.get_outputs()]

    def predict(data: Any) -> Any:
        feed = data if isinstance(data, dict) else {first.name: np.asarray(data, dtype=dtype)}
        outputs = model.run(None, feed)
        return outputs[0] if len(outputs) == 1 else dict(zip(names, outputs, strict=True))

    return predict


def _xgboost_predictor(model: Any) -> Predict | None:
    xgb: Any = sys.modules.get("xgboost")
    if xgb is None or not isinstance(model, xgb.Booster):
        return None

    def predict(data: Any) -> Any:
        # As SageMaker's XGBoost container predicts: a model trained on named features (a
        # DataFrame) still predicts on a CSV or NumPy body, whose columns have no names.
        return model.predict(xgb.DMatrix(data), validate_features=False)

    return predict
