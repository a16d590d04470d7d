"""KILN_BACKEND chooses where processes run; ``ray`` needs the cluster's address."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from kiln.config import Settings


def test_the_local_backend_is_the_default(tmp_path: Path) -> None:
    settings = Settings.from_env({"KILN_HOME": str(tmp_path)})
    assert (settings.backend, settings.ray_address) == ("local", None)
    assert settings.ray_work_dir == Path(tempfile.gettempdir()) / "kiln-ray"


def test_the_ray_backend_reads_its_address_and_work_dir(tmp_path: Path) -> None:
    env = {
        "KILN_HOME": str(tmp_path),
        "KILN_BACKEND": "ray",
        "KILN_RAY_ADDRESS": "10.0.0.5:6379",
        "KILN_RAY_WORK_DIR": "/var/lib/kiln",
    }
    settings = Settings.from_env(env)
    assert (settings.backend, settings.ray_address) == ("ray", "10.0.0.5:6379")
    assert settings.ray_work_dir == Path("/var/lib/kiln")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KILN_BACKEND": "k8s"}, "KILN_BACKEND='k8s' is not one of local, ray"),
        ({"KILN_BACKEND": "ray"}, "KILN_BACKEND=ray needs KILN_RAY_ADDRESS=host:port"),
        ({"KILN_RAY_ADDRESS": "head"}, "KILN_RAY_ADDRESS='head' is not host:port"),
        ({"KILN_RAY_ADDRESS": "head:0"}, "KILN_RAY_ADDRESS='head:0' is not host:port"),
        ({"KILN_RAY_ADDRESS": ":6379"}, "KILN_RAY_ADDRESS=':6379' is not host:port"),
        ({"KILN_RAY_WORK_DIR": "work"}, "KILN_RAY_WORK_DIR='work' must be an absolute path"),
    ],
)
def test_bad_backend_settings_are_refused(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        Settings.from_env({"KILN_HOME": str(tmp_path), **env})
