"""Job environments: the server's Python plus a cached virtualenv for ``requirements.txt``.

The image ``kiln/python`` is this interpreter with this installation's packages. A job whose
code folder holds ``requirements.txt`` gets a virtualenv built with uv, keyed by the hash of that
file and of the interpreter, reused by every later job with the same file. The virtualenv sees the
server's packages after its own (a ``.pth`` file), as a framework image sees its preinstalled ones.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Callable
from pathlib import Path


class EnvironmentBuildError(Exception):
    """uv could not build a job environment; the message holds uv's own words."""


def env_key(requirements: Path) -> str:
    """The cache key of an environment: the requirements file and the interpreter."""
    digest = hashlib.sha256()
    digest.update(requirements.read_bytes())
    digest.update(sys.version.encode())
    digest.update(sys.prefix.encode())
    return digest.hexdigest()[:24]


def ensure_env(
    requirements: Path, envs_dir: Path, log: Callable[[str], None] = lambda _line: None
) -> Path:
    """The Python executable of the environment for ``requirements``, built if not cached."""
    target = envs_dir / env_key(requirements)
    python = target / "bin" / "python"
    if python.exists():
        return python
    envs_dir.mkdir(parents=True, exist_ok=True)
    with open(envs_dir / f"{target.name}.lock", "w") as lock:
        # Two jobs with the same requirements build once; the second waits and reuses.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not python.exists():
            _build(requirements, target, log)
    return python


def _build(requirements: Path, target: Path, log: Callable[[str], None]) -> None:
    log(f"Building environment {target.name} from {requirements.name} with uv")
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _uv("venv", "--quiet", "--relocatable", "--python", sys.executable, str(staging))
        _uv(
            "pip",
            "install",
            "--quiet",
            "--python",
            str(staging / "bin" / "python"),
            "-r",
            str(requirements),
        )
        _link_base_packages(staging)
        # Built aside and renamed (a relocatable venv), so no job ever sees a half-built one.
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"Environment {target.name} ready")


def _link_base_packages(env: Path) -> None:
    purelib = next((env / "lib").glob("python*/site-packages"))
    base = [p for p in [*site.getsitepackages(), sysconfig.get_path("purelib")] if p]
    # addsitedir, not a bare path: the server's own .pth files (editable installs) count too.
    lines = [f"import site; site.addsitedir({path!r})" for path in dict.fromkeys(base)]
    (purelib / "_kiln_base.pth").write_text("\n".join(lines) + "\n")


def _uv(*args: str) -> None:
    result = subprocess.run(
        [_uv_binary(), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "UV_NO_PROGRESS": "1"},
    )
    if result.returncode != 0:
        raise EnvironmentBuildError(result.stderr.strip()[-2000:] or f"uv {args[0]} failed")


def _uv_binary() -> str:
    from uv import find_uv_bin

    return find_uv_bin()


def writable_env(target: Path) -> Path:
    """A fresh virtualenv with pip at ``target`` that sees the server's packages after its own:
    for jobs that install their own requirements (``ContainerEntrypoint``, SDK v3's
    ``sm_train.sh``) without touching the server's environment. Its Python executable."""
    _uv("venv", "--quiet", "--seed", "--relocatable", "--python", sys.executable, str(target))
    _link_base_packages(target)
    return target / "bin" / "python"
