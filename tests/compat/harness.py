"""The compat suite's machinery: client virtualenvs, their environment, and running them.

Clients (the sagemaker SDK v2 and v3, the aws CLI, moto's tests) each live in a virtualenv of
their own under ``.venv-compat/``, built with uv from a pinned file in ``requirements/`` and keyed
by that file's hash, so a changed pin builds a new one and an unchanged one is reused. Clients run
as real subprocesses with the environment ``kiln env`` prints, plus a ``sitecustomize`` that
records any connection to anything but loopback (``netguard/``).

Importable without pytest, so ``bench/sdk_roundtrip.py`` builds and runs clients the same way.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from kiln.config import Settings
from kiln.sdk.environment import client_environment, write_sagemaker_config

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
REQUIREMENTS = HERE / "requirements"
SCRIPTS = HERE / "scripts"
NETGUARD = HERE / "netguard"
VENVS = Path(os.environ.get("KILN_COMPAT_VENVS", ROOT / ".venv-compat"))
ROLE = "arn:aws:iam::000000000000:role/kiln"
BUILD_TIMEOUT_S = 900


class VenvBuildError(RuntimeError):
    """uv could not build a client virtualenv; the message holds uv's own words."""


@dataclass(frozen=True)
class ClientVenv:
    """A built client virtualenv."""

    name: str
    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    def bin(self, program: str) -> Path:
        """An executable the virtualenv installed (``aws``, ``pytest``)."""
        return self.path / "bin" / program


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        raise VenvBuildError("uv is not installed (it is one of Kiln's dependencies)")
    return found


def venv_key(requirements: Path) -> str:
    """The cache key: the pinned requirement set and the interpreter that runs it."""
    digest = hashlib.sha256(requirements.read_bytes())
    digest.update(sys.version.encode())
    return digest.hexdigest()[:12]


def ensure_venv(name: str) -> ClientVenv:
    """The virtualenv for ``requirements/<name>.txt``, built with uv unless already cached."""
    requirements = REQUIREMENTS / f"{name}.txt"
    target = VENVS / f"{name}-{venv_key(requirements)}"
    venv = ClientVenv(name, target)
    if (target / ".complete").exists():
        return venv
    VENVS.mkdir(parents=True, exist_ok=True)
    with open(VENVS / f"{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two runs at once build it once
        if not (target / ".complete").exists():
            _build(requirements, target)
    return venv


def _build(requirements: Path, target: Path) -> None:
    shutil.rmtree(target, ignore_errors=True)
    commands = [
        [_uv(), "venv", "--quiet", "--python", sys.executable, str(target)],
        [_uv(), "pip", "install", "--quiet", "--python", str(target / "bin" / "python"),
         "-r", str(requirements)],
    ]  # fmt: skip
    for command in commands:
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as e:
            raise VenvBuildError(f"{' '.join(command)} took over {BUILD_TIMEOUT_S} s") from e
        if done.returncode != 0:
            shutil.rmtree(target, ignore_errors=True)
            raise VenvBuildError(f"{' '.join(command[:3])} failed: {done.stderr.strip()[-2000:]}")
    (target / ".complete").write_text(requirements.read_text())


def client_env(settings: Settings, home: Path) -> dict[str, str]:
    """What a client process gets: ``kiln env``'s variables, a private HOME, the net guard.

    ``settings.endpoint`` must be where the server really listens (tests pick free ports).
    """
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "PYTHONPATH": str(NETGUARD),
        "KILN_COMPAT_NETLOG": str(home / "non-loopback.log"),
        # No shared config or credentials of the machine's user can leak in.
        "AWS_CONFIG_FILE": str(home / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "aws-credentials"),
        **client_environment(settings),
    }
    write_sagemaker_config(settings)  # as `kiln env` does
    return env


def non_loopback_traffic(env: dict[str, str]) -> list[str]:
    """What the net guard recorded for clients run with ``env``: one line per lookup/connect."""
    log = Path(env["KILN_COMPAT_NETLOG"])
    return log.read_text().splitlines() if log.exists() else []


def run_client(
    argv: list[str | Path],
    env: dict[str, str],
    *,
    cwd: Path | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run a client to its end in its own process group; stdout and stderr merged, as text."""
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(
            [str(a) for a in argv],
            env=env,
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise
        finally:
            _kill_group(process)
        out.seek(0)
        return subprocess.CompletedProcess(process.args, process.returncode, out.read(), None)


def _kill_group(process: subprocess.Popen[str]) -> None:
    """SIGTERM the client's group, a grace period, then SIGKILL; always reap."""
    import signal

    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        except ProcessLookupError:
            process.wait()
