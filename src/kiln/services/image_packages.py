"""What a framework image's environment carries here, and where that differs from AWS's image.

SageMaker's framework images ship their framework, pandas, numpy, scipy, joblib and SageMaker's
toolkits, and scripts import them without a ``requirements.txt``. Kiln installs the same set with
uv into a cached virtualenv over the server's Python — except what cannot be honoured here, which
the job's log says line by line (the table is in docs/training.md):

* a framework version with no wheel for this Python moves to the oldest series that has one;
* PyTorch, TensorFlow and MXNet are not installed (PyPI's Linux torch pulls GBs of CUDA; no other
  index is reachable): the job uses the server's own copy, if it has one;
* pins of the image's era (``numpy<2``, ``pandas<2``) that this Python cannot satisfy are dropped;
* ``sagemaker-containers`` (legacy) does not import on Python >= 3.10 and is left out.

A pure decision: (image, Python version, the server's framework versions) → :class:`PackageSet`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from kiln.services.images import Framework, FrameworkImage, Scope

COMMON = ("pandas", "numpy", "scipy", "joblib")

TRAINING_TOOLKIT = "sagemaker-training"
INFERENCE_TOOLKIT = "sagemaker-inference"

# The oldest scikit-learn series with wheels for each Python (PyPI, checked with uv).
_SKLEARN_OLDEST = {(3, 11): (1, 1), (3, 12): (1, 3), (3, 13): (1, 5)}

# xgboost >= 2.1 on Linux depends on nvidia-nccl-cu12 (~200 MB); xgboost-cpu is the same module
# without it, and exists from 2.1 on.
_XGBOOST_CPU_FROM = (2, 1)


@dataclass(frozen=True)
class _EraPin:
    """A pin the image's era needs (its framework was built against it), and where it installs."""

    requirement: str
    last_python: tuple[int, int]
    why: str


# Frameworks built before numpy 2 fail to import with it; images from before pandas 2 carried
# pandas 1 and scripts written for them may use what pandas 2 removed (DataFrame.append).
_NUMPY_1 = _EraPin("numpy<2", (3, 12), "built against numpy 1")
_PANDAS_1 = _EraPin("pandas<2", (3, 11), "the image carried pandas 1")
_ERA_PINS: dict[Framework, tuple[tuple[tuple[int, ...], _EraPin], ...]] = {
    # (first series that no longer needs the pin, pin)
    Framework.SKLEARN: (((1, 4), _NUMPY_1), ((1, 3), _PANDAS_1)),
    Framework.XGBOOST: (((2, 1), _NUMPY_1), ((2, 0), _PANDAS_1)),
}


@dataclass(frozen=True)
class _ServerFramework:
    """A framework Kiln does not install; the server's own copy (if any) serves."""

    distribution: str
    module: str
    why: str
    hint: str
    """How a user gets it anyway."""


_FROM_SERVER = {
    Framework.PYTORCH: _ServerFramework(
        "torch",
        "torch",
        "PyPI's Linux torch wheels pull several GB of CUDA libraries",
        "`--extra-index-url https://download.pytorch.org/whl/cpu` and `torch` in requirements.txt",
    ),
    Framework.TENSORFLOW: _ServerFramework(
        "tensorflow",
        "tensorflow",
        "tensorflow and its dependencies are over 500 MB",
        "`tensorflow-cpu` in requirements.txt",
    ),
    Framework.MXNET: _ServerFramework(
        "mxnet",
        "mxnet",
        "Apache MXNet is retired and its wheels need numpy < 1.24",
        "`mxnet` and `numpy<1.24` in requirements.txt",
    ),
}


@dataclass(frozen=True)
class PackageSet:
    """The environment of a framework image: what to install and what to tell the job."""

    packages: tuple[str, ...]
    """Installed from wheels only; a failure fails the job."""
    toolkits: tuple[str, ...]
    """Installed where they can be (sagemaker-training compiles C); a failure is a log line."""
    notes: tuple[str, ...]
    """Where this environment differs from the real image, one line each."""

    @property
    def label(self) -> str:
        """The packages and toolkits, comma-separated, for log lines."""
        return ", ".join((*self.packages, *self.toolkits))


def package_set(
    image: FrameworkImage, python: tuple[int, int], server: Mapping[str, str]
) -> PackageSet:
    """The packages ``image``'s environment carries on ``python``; ``server``: dist → version."""
    notes: list[str] = []
    framework = _framework_packages(image, python, server, notes)
    common = {name: name for name in COMMON}
    for pin in _era_pins(image, python, notes):
        common[pin.requirement[: pin.requirement.index("<")]] = pin.requirement
    notes += _runtime_notes(image, python)
    return PackageSet((*framework, *common.values()), toolkits(image.scope), tuple(notes))


def toolkits(scope: Scope | None) -> tuple[str, ...]:
    """SageMaker's toolkits an image of ``scope`` carries (scikit-learn, XGBoost: both)."""
    if scope is Scope.TRAINING:
        return (TRAINING_TOOLKIT,)
    if scope is Scope.INFERENCE:
        return (INFERENCE_TOOLKIT,)
    return (TRAINING_TOOLKIT, INFERENCE_TOOLKIT)


def series(version: str | None) -> tuple[int, ...]:
    """``"1.2"`` → ``(1, 2)``, ``"2.1.0"`` → ``(2, 1)``, ``"1"`` → ``(1,)``, None → ``()``."""
    if not version:
        return ()
    return tuple(int(part) for part in version.split(".")[:2])


def _framework_packages(
    image: FrameworkImage, python: tuple[int, int], server: Mapping[str, str], notes: list[str]
) -> list[str]:
    wanted = series(image.version)
    if image.framework is Framework.SKLEARN:
        oldest = _SKLEARN_OLDEST.get(python, ())
        if wanted and wanted < oldest:
            notes.append(
                f"scikit-learn {image.version} has no wheels for Python {_dotted(python)}; "
                f"installing scikit-learn {_dotted(oldest)}.* (the oldest series that has)"
            )
            wanted = oldest
        return [_pinned("scikit-learn", wanted, notes)]
    if image.framework is Framework.XGBOOST:
        cpu = not wanted or wanted >= _XGBOOST_CPU_FROM
        return [_pinned("xgboost-cpu" if cpu else "xgboost", wanted, notes)]
    packages = []
    if image.transformers:
        packages.append(_pinned("transformers", series(image.transformers), notes))
    notes.append(_server_framework_note(_FROM_SERVER[image.framework], image.version, server))
    return packages


def _pinned(distribution: str, wanted: tuple[int, ...], notes: list[str]) -> str:
    if not wanted:
        notes.append(f"the image URI names no {distribution} version; installing the latest")
        return distribution
    return f"{distribution}=={_dotted(wanted)}.*"


def _server_framework_note(
    framework: _ServerFramework, version: str | None, server: Mapping[str, str]
) -> str:
    name = f"{framework.distribution} {version}" if version else framework.distribution
    head = f"{name} is not installed: {framework.why}"
    have = server.get(framework.distribution)
    if have is not None:
        return f"{head}; the job uses the server's {framework.distribution} {have}"
    return (
        f"{head}, and the server's Python has none, so `import {framework.module}` fails: "
        f"install it into the server's Python, or put {framework.hint}"
    )


def _era_pins(image: FrameworkImage, python: tuple[int, int], notes: list[str]) -> list[_EraPin]:
    wanted = series(image.version)
    if wanted and image.framework is Framework.SKLEARN:
        wanted = max(wanted, _SKLEARN_OLDEST.get(python, ()))
    pins = []
    for until, pin in _ERA_PINS.get(image.framework, ()):
        if not wanted or wanted >= until:  # no version: the latest, which needs no pin
            continue
        if python > pin.last_python:
            notes.append(
                f"{pin.requirement} ({pin.why}) has no wheels for Python {_dotted(python)}; "
                "installing the latest instead"
            )
            continue
        pins.append(pin)
    return pins


def _runtime_notes(image: FrameworkImage, python: tuple[int, int]) -> list[str]:
    notes = []
    if image.python and "." in image.python and image.python != _dotted(python):
        notes.append(
            f"{image.name} runs Python {image.python} on SageMaker; "
            f"here it runs on the server's Python {_dotted(python)}"
        )
    if image.accelerator == "gpu":
        notes.append(f"{image.name} is a GPU image; Kiln runs it on CPU")
    if image.framework in (Framework.SKLEARN, Framework.XGBOOST):
        notes.append(
            "sagemaker_containers (the image's legacy toolkit) is not provided: "
            "it does not import on Python 3.10 or later"
        )
    if image.framework is Framework.XGBOOST:
        notes.append(
            "sagemaker_xgboost_container (the image's own package: data_utils, distributed) "
            "is not provided: it is not published on PyPI"
        )
    return notes


def _dotted(version: tuple[int, ...]) -> str:
    return ".".join(str(part) for part in version)
