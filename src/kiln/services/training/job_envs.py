"""The Python a training job or a replica runs, chosen from its image and its code.

``kiln/python`` without a ``requirements.txt`` is the server's own interpreter: no environment,
no wait. A framework image gets a cached virtualenv holding what the real image carries
(``image_packages``), with the code's ``requirements.txt`` installed over it in the same
environment — one uv resolve against what is already installed, as ``pip install -r`` runs in the
real container — so a user's pin (``pandas==2.2``) wins over the image's, and uv's cache makes a
second environment that shares the image's packages a matter of hard links.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from kiln.runtime.envs import Layer, ensure_env
from kiln.services.image_packages import PackageSet, package_set
from kiln.services.images import KILN_PYTHON, parse_image

# The frameworks image_packages may leave to the server; their versions go into its decision.
_SERVER_FRAMEWORKS = ("torch", "tensorflow", "mxnet")


def python_for(
    image: str | None, code_dir: Path | None, envs_dir: Path, log: Callable[[str], None]
) -> Path:
    """The interpreter for ``image`` and ``code_dir``; EnvironmentBuildError if uv fails."""
    requirements = code_dir / "requirements.txt" if code_dir is not None else None
    user = [Layer.from_file(requirements)] if requirements and requirements.is_file() else []
    framework = parse_image(image)
    if framework is None:
        if not user:
            return Path(sys.executable)
        return ensure_env(user, envs_dir, log, name=KILN_PYTHON).python
    plan = package_set(framework, (sys.version_info[0], sys.version_info[1]), server_frameworks())
    for note in plan.notes:
        log(note)
    env = ensure_env([*image_layers(plan), *user], envs_dir, log, name=framework.name)
    for reason in env.skipped:
        log(f"not installed: {reason}")
    return env.python


def image_layers(plan: PackageSet) -> list[Layer]:
    """The image's packages (wheels only, required), then each toolkit (optional)."""
    packages = Layer(", ".join(plan.packages), plan.packages, wheels_only=True)
    toolkits = [Layer(name, (name,), optional=True) for name in plan.toolkits]
    return [packages, *toolkits]


def server_frameworks() -> dict[str, str]:
    """The versions of the frameworks installed in the server's own Python."""
    found = {}
    for distribution in _SERVER_FRAMEWORKS:
        try:
            found[distribution] = version(distribution)
        except PackageNotFoundError:
            continue
    return found
