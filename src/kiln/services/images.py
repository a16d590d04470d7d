"""Image names → what they run. ``kiln/python`` is the server's Python, bare.

SageMaker's framework images (scikit-learn, XGBoost, PyTorch, TensorFlow, Hugging Face, MXNet)
parse into a :class:`FrameworkImage` — framework, version, scope, Python, accelerator — from
which ``image_packages`` decides the packages the job's environment carries, so SDK code that
names them runs unchanged. Any other image needs a container backend.

Accepted forms, from any registry or none: ``<registry>/<repository>[:<tag>][@<digest>]``, e.g.
``683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3``,
``pytorch-training:2.1.0-gpu-py310-cu121-ubuntu20.04-sagemaker``,
``huggingface-pytorch-training:2.1.0-transformers4.36.0-cpu-py310-ubuntu20.04``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum

from kiln.errors import UnsupportedError

KILN_PYTHON = "kiln/python"


class Framework(Enum):
    """The framework a SageMaker image is built around (Hugging Face images: the base one)."""

    SKLEARN = "scikit-learn"
    XGBOOST = "xgboost"
    PYTORCH = "pytorch"
    TENSORFLOW = "tensorflow"
    MXNET = "mxnet"


class Scope(Enum):
    """What an image is for; scikit-learn and XGBoost images serve both (scope ``None``)."""

    TRAINING = "training"
    INFERENCE = "inference"


@dataclass(frozen=True)
class FrameworkImage:
    """A SageMaker framework image, as its URI describes it."""

    repository: str
    tag: str | None
    framework: Framework
    version: str | None
    scope: Scope | None
    python: str | None = None
    accelerator: str | None = None
    transformers: str | None = None

    @property
    def name(self) -> str:
        """``repository:tag`` without the registry, for log lines."""
        return f"{self.repository}:{self.tag}" if self.tag else self.repository


# repository → (framework, scope)
_REPOSITORIES: dict[str, tuple[Framework, Scope | None]] = {
    "sagemaker-scikit-learn": (Framework.SKLEARN, None),
    "sagemaker-xgboost": (Framework.XGBOOST, None),
    "xgboost": (Framework.XGBOOST, None),
    "pytorch-training": (Framework.PYTORCH, Scope.TRAINING),
    "pytorch-inference": (Framework.PYTORCH, Scope.INFERENCE),
    "tensorflow-training": (Framework.TENSORFLOW, Scope.TRAINING),
    "tensorflow-inference": (Framework.TENSORFLOW, Scope.INFERENCE),
    "huggingface-pytorch-training": (Framework.PYTORCH, Scope.TRAINING),
    "huggingface-pytorch-inference": (Framework.PYTORCH, Scope.INFERENCE),
    "huggingface-tensorflow-training": (Framework.TENSORFLOW, Scope.TRAINING),
    "huggingface-tensorflow-inference": (Framework.TENSORFLOW, Scope.INFERENCE),
    "mxnet-training": (Framework.MXNET, Scope.TRAINING),
    "mxnet-inference": (Framework.MXNET, Scope.INFERENCE),
}

_REFERENCE = re.compile(r"^(?:(?P<path>.*)/)?(?P<repo>[^/:@]+)(?::(?P<tag>[^/:@]+))?(?:@.+)?$")
_VERSION = re.compile(r"^\d+(\.\d+)*$")
_PYTHON = re.compile(r"^py(\d)(\d+)?$")
_TRANSFORMERS = re.compile(r"^transformers(\d+(?:\.\d+)*)$")


def parse_image(image: str | None) -> FrameworkImage | None:
    """The framework image ``image`` names; None for ``kiln/python``; UnsupportedError else."""
    if image is None or image.strip() == "":
        return None
    match = _REFERENCE.match(image.strip())
    if match is None:
        raise _unsupported(image)
    repo, tag = match["repo"], match["tag"]
    if repo == "python" and (match["path"] or "").rsplit("/", 1)[-1] == "kiln":
        return None
    known = _REPOSITORIES.get(repo)
    if known is None:
        raise _unsupported(image)
    framework, scope = known
    return _from_tag(repo, tag, framework, scope)


def resolve_image(image: str | None) -> str:
    """The runtime that runs ``image`` (default ``kiln/python``); UnsupportedError otherwise."""
    parse_image(image)
    return KILN_PYTHON


def _from_tag(
    repo: str, tag: str | None, framework: Framework, scope: Scope | None
) -> FrameworkImage:
    parts = (tag or "").split("-")
    version = parts[0] if _VERSION.match(parts[0]) else None
    python = accelerator = transformers = None
    for part in parts[1:]:
        if part in ("cpu", "gpu"):
            accelerator = part
        elif re.match(r"^cu\d+$", part):
            accelerator = "gpu"
        elif (found := _PYTHON.match(part)) is not None:
            python = f"{found[1]}.{found[2]}" if found[2] else found[1]
        elif (found := _TRANSFORMERS.match(part)) is not None:
            transformers = found[1]
    return FrameworkImage(repo, tag, framework, version, scope, python, accelerator, transformers)


def _unsupported(image: str) -> UnsupportedError:
    return UnsupportedError(
        f"Image {image!r} needs a container backend, which Kiln does not have yet. "
        f"Use {KILN_PYTHON!r} or a SageMaker framework image URI (scikit-learn, XGBoost, "
        "PyTorch, TensorFlow, Hugging Face, MXNet), which run on the server's Python."
    )
