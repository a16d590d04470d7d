"""Image names → runtimes. ``kiln/python`` is the server's Python plus a cached virtualenv.

SageMaker's framework images (scikit-learn, XGBoost, PyTorch, TensorFlow, Hugging Face) map to
it, so SDK code that names them runs unchanged; any other image needs a container backend.
"""

from __future__ import annotations

import re

from kiln.errors import UnsupportedError

KILN_PYTHON = "kiln/python"

_FRAMEWORK_IMAGE = re.compile(
    r"(^|/)(sagemaker-scikit-learn|sagemaker-xgboost|xgboost|pytorch-training|pytorch-inference|"
    r"tensorflow-training|tensorflow-inference|huggingface-pytorch-training|"
    r"huggingface-pytorch-inference|mxnet-training|mxnet-inference|kiln/python)([:@].*)?$"
)


def resolve_image(image: str | None) -> str:
    """The runtime that runs ``image`` (default ``kiln/python``); UnsupportedError otherwise."""
    if image is None or image == "" or _FRAMEWORK_IMAGE.search(image):
        return KILN_PYTHON
    raise UnsupportedError(
        f"Image {image!r} needs a container backend, which Kiln does not have yet. "
        f"Use {KILN_PYTHON!r} or a SageMaker framework image URI (scikit-learn, XGBoost, "
        "PyTorch, TensorFlow, Hugging Face), which run on the server's Python."
    )
