"""Image URIs → FrameworkImage, as a table."""

from __future__ import annotations

import pytest

from kiln.errors import UnsupportedError
from kiln.services.images import (
    KILN_PYTHON,
    Framework,
    FrameworkImage,
    Scope,
    parse_image,
    resolve_image,
)

ECR = "683313688378.dkr.ecr.us-east-1.amazonaws.com"
DLC = "763104351884.dkr.ecr.eu-west-1.amazonaws.com"
SK, XGB, PT, TF = Framework.SKLEARN, Framework.XGBOOST, Framework.PYTORCH, Framework.TENSORFLOW
TRAIN, INFER = Scope.TRAINING, Scope.INFERENCE


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3",
            FrameworkImage("sagemaker-scikit-learn", "1.2-1-cpu-py3", SK, "1.2", None, "3", "cpu"),
        ),
        (
            f"{ECR}/sagemaker-scikit-learn:0.23-1",
            FrameworkImage("sagemaker-scikit-learn", "0.23-1", SK, "0.23", None),
        ),
        (
            "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1",
            FrameworkImage("sagemaker-xgboost", "1.7-1", XGB, "1.7", None),
        ),
        (
            f"{DLC}/pytorch-training:2.1-cpu-py310",
            FrameworkImage("pytorch-training", "2.1-cpu-py310", PT, "2.1", TRAIN, "3.10", "cpu"),
        ),
        (  # the DLC long form: accelerator, Python, CUDA, OS
            f"{DLC}/pytorch-inference:2.1.0-gpu-py310-cu118-ubuntu20.04-sagemaker",
            FrameworkImage(
                "pytorch-inference",
                "2.1.0-gpu-py310-cu118-ubuntu20.04-sagemaker",
                PT,
                "2.1.0",
                INFER,
                "3.10",
                "gpu",
            ),
        ),
        (
            f"{DLC}/tensorflow-training:2.13-cpu-py310",
            FrameworkImage(
                "tensorflow-training", "2.13-cpu-py310", TF, "2.13", TRAIN, "3.10", "cpu"
            ),
        ),
        (  # Hugging Face: the base framework's version, then transformers'
            f"{DLC}/huggingface-pytorch-training:2.1.0-transformers4.36.0-cpu-py310-ubuntu20.04",
            FrameworkImage(
                "huggingface-pytorch-training",
                "2.1.0-transformers4.36.0-cpu-py310-ubuntu20.04",
                PT,
                "2.1.0",
                TRAIN,
                "3.10",
                "cpu",
                "4.36.0",
            ),
        ),
        (  # a digest names no version
            f"{ECR}/sagemaker-scikit-learn@sha256:" + "a" * 64,
            FrameworkImage("sagemaker-scikit-learn", None, SK, None, None),
        ),
        (  # tag and digest: the tag still tells the version
            f"{ECR}/sagemaker-xgboost:1.5-1@sha256:" + "b" * 64,
            FrameworkImage("sagemaker-xgboost", "1.5-1", XGB, "1.5", None),
        ),
        (  # no registry, no tag
            "mxnet-training",
            FrameworkImage("mxnet-training", None, Framework.MXNET, None, TRAIN),
        ),
        (  # a mirror in another registry, with a port
            "registry.local:5000/mirror/sagemaker-scikit-learn:1.0-1",
            FrameworkImage("sagemaker-scikit-learn", "1.0-1", SK, "1.0", None),
        ),
        (
            f"{DLC}/tensorflow-inference:2.13.0-gpu",
            FrameworkImage("tensorflow-inference", "2.13.0-gpu", TF, "2.13.0", INFER, None, "gpu"),
        ),
    ],
)
def test_parse_framework_image(uri: str, expected: FrameworkImage) -> None:
    assert parse_image(uri) == expected


@pytest.mark.parametrize("uri", [None, "", "kiln/python", "kiln/python:latest"])
def test_kiln_python_is_no_framework_image(uri: str | None) -> None:
    assert parse_image(uri) is None
    assert resolve_image(uri) == KILN_PYTHON


@pytest.mark.parametrize(
    "uri", ["my-registry/my-image:1.0", "ubuntu:22.04", f"{ECR}/sagemaker-spark-processing:3.3"]
)
def test_foreign_image_is_refused_quoting_it(uri: str) -> None:
    with pytest.raises(UnsupportedError, match=uri.split("/")[-1].split(":")[0]):
        resolve_image(uri)


def test_name_drops_the_registry() -> None:
    image = parse_image(f"{ECR}/sagemaker-scikit-learn:1.2-1-cpu-py3")
    assert image is not None
    assert image.name == "sagemaker-scikit-learn:1.2-1-cpu-py3"
