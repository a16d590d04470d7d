"""The framework-image package decision, as tables."""

from __future__ import annotations

import pytest

from kiln.services.image_packages import package_set, series, toolkits
from kiln.services.images import Scope, parse_image

ECR = "683313688378.dkr.ecr.us-east-1.amazonaws.com"
DLC = "763104351884.dkr.ecr.us-east-1.amazonaws.com"
PY311 = (3, 11)
BOTH = ("sagemaker-training", "sagemaker-inference")
COMMON_TAIL = ("pandas", "numpy", "scipy", "joblib")


def _packages(uri: str, python: tuple[int, int] = PY311, **server: str) -> tuple[str, ...]:
    image = parse_image(uri)
    assert image is not None
    return package_set(image, python, server).packages


def _notes(uri: str, python: tuple[int, int] = PY311, **server: str) -> str:
    image = parse_image(uri)
    assert image is not None
    return "\n".join(package_set(image, python, server).notes)


@pytest.mark.parametrize(
    ("uri", "python", "expected"),
    [
        # the tag's series; built before numpy 2 and pandas 2, so both pinned below 2
        (
            f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3",
            PY311,
            ("scikit-learn==1.2.*", "pandas<2", "numpy<2", "scipy", "joblib"),
        ),
        # 1.3 came after pandas 2; 1.4.2 supports numpy 2 but 1.3 does not
        (
            f"{ECR}/sagemaker-scikit-learn:1.3-1",
            PY311,
            ("scikit-learn==1.3.*", "pandas", "numpy<2", "scipy", "joblib"),
        ),
        (f"{ECR}/sagemaker-scikit-learn:1.4-2", PY311, ("scikit-learn==1.4.*", *COMMON_TAIL)),
        # 0.23 has no cp311 wheel: the oldest series that has one (1.1), still numpy/pandas 1
        (
            f"{ECR}/sagemaker-scikit-learn:0.23-1-cpu-py3",
            PY311,
            ("scikit-learn==1.1.*", "pandas<2", "numpy<2", "scipy", "joblib"),
        ),
        # on 3.12 the oldest is 1.3, and pandas 1 has no cp312 wheel, so only numpy stays pinned
        (
            f"{ECR}/sagemaker-scikit-learn:1.2-1",
            (3, 12),
            ("scikit-learn==1.3.*", "pandas", "numpy<2", "scipy", "joblib"),
        ),
        # xgboost 1.7: the full wheel (no nccl dependency before 2.1), numpy and pandas 1
        (
            f"{ECR}/sagemaker-xgboost:1.7-1",
            PY311,
            ("xgboost==1.7.*", "pandas<2", "numpy<2", "scipy", "joblib"),
        ),
        # xgboost >= 2.1 pulls nvidia-nccl-cu12 on Linux; xgboost-cpu is the same module without
        (f"{ECR}/sagemaker-xgboost:3.0-5", PY311, ("xgboost-cpu==3.0.*", *COMMON_TAIL)),
        # a digest names no version: the latest
        (f"{ECR}/sagemaker-scikit-learn@sha256:{'a' * 64}", PY311, ("scikit-learn", *COMMON_TAIL)),
        # PyTorch/TensorFlow are never installed; Hugging Face adds transformers at its series
        (f"{DLC}/pytorch-training:2.1-cpu-py310", PY311, COMMON_TAIL),
        (f"{DLC}/tensorflow-training:2.13-cpu-py310", PY311, COMMON_TAIL),
        (
            f"{DLC}/huggingface-pytorch-training:2.1.0-transformers4.36.0-cpu-py310-ubuntu20.04",
            PY311,
            ("transformers==4.36.*", *COMMON_TAIL),
        ),
    ],
)
def test_packages(uri: str, python: tuple[int, int], expected: tuple[str, ...]) -> None:
    assert _packages(uri, python) == expected


@pytest.mark.parametrize(
    ("scope", "expected"),
    [(Scope.TRAINING, BOTH[:1]), (Scope.INFERENCE, BOTH[1:]), (None, BOTH)],
)
def test_toolkits_follow_the_scope(scope: Scope | None, expected: tuple[str, ...]) -> None:
    assert toolkits(scope) == expected


@pytest.mark.parametrize(
    ("uri", "server", "says"),
    [
        (f"{ECR}/sagemaker-scikit-learn:0.23-1", {}, "installing scikit-learn 1.1.*"),
        (f"{ECR}/sagemaker-scikit-learn:1.2-1", {}, "sagemaker_containers"),
        (f"{ECR}/sagemaker-xgboost:1.7-1", {}, "sagemaker_xgboost_container"),
        (
            f"{DLC}/pytorch-training:2.1-cpu-py310",
            {"torch": "2.5.1"},
            "torch 2.1 is not installed: PyPI's Linux torch wheels pull several GB of CUDA "
            "libraries; the job uses the server's torch 2.5.1",
        ),
        (f"{DLC}/pytorch-training:2.1-cpu-py310", {}, "`import torch` fails"),
        (f"{DLC}/tensorflow-inference:2.13.0-cpu", {}, "tensorflow 2.13.0 is not installed"),
        (f"{DLC}/pytorch-training:2.1-cpu-py310", {}, "runs Python 3.10 on SageMaker"),
        (f"{DLC}/pytorch-training:2.1-gpu-py310", {}, "GPU image; Kiln runs it on CPU"),
        (f"{ECR}/sagemaker-scikit-learn@sha256:{'a' * 64}", {}, "names no scikit-learn version"),
    ],
)
def test_notes_say_what_differs(uri: str, server: dict[str, str], says: str) -> None:
    assert says in _notes(uri, **server)


def test_an_image_honoured_in_full_has_no_version_notes() -> None:
    notes = _notes(f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3")
    assert "installing" not in notes
    assert "Python" not in notes.replace("Python 3.10 or later", "")


@pytest.mark.parametrize(
    ("version", "expected"),
    [("1.2", (1, 2)), ("2.1.0", (2, 1)), ("1", (1,)), ("0.23", (0, 23)), (None, ())],
)
def test_series(version: str | None, expected: tuple[int, ...]) -> None:
    assert series(version) == expected
