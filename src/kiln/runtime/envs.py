"""Job environments: the server's Python plus a cached virtualenv built with uv.

An environment is a list of :class:`Layer` s, each one ``uv pip install`` — a requirements list
(a framework image's packages) or a requirements file (the job's ``requirements.txt``) — applied
in order, as a container image's packages and then ``pip install -r requirements.txt`` are. It is
keyed by the content of every layer and by the interpreter, and reused by every later job with the
same layers. The virtualenv sees the server's packages after its own (a ``.pth`` file), as a
framework image sees its preinstalled ones. An optional layer that fails to install is skipped and
remembered, so every job that uses the environment can say so.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import site
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

_MANIFEST = "kiln-env.json"


class EnvironmentBuildError(Exception):
    """uv could not build a job environment; the message holds uv's own words."""


@dataclass(frozen=True)
class Layer:
    """One ``uv pip install``: requirement lines, or a requirements file read from ``path``."""

    label: str
    requirements: tuple[str, ...] = ()
    path: Path | None = None
    wheels_only: bool = False
    """No source builds: a version without a wheel fails at once instead of compiling."""
    optional: bool = False
    """A failure is remembered in the environment instead of failing it."""

    @classmethod
    def from_file(cls, path: Path) -> Layer:
        """A layer for a requirements file (relative references resolve next to it)."""
        return cls(label=path.name, path=path)

    def content(self) -> bytes:
        """What the cache key hashes: the lines, or the file's bytes."""
        body = self.path.read_bytes() if self.path else "\n".join(self.requirements).encode()
        flags = f"{self.wheels_only}:{self.optional}:".encode()
        return flags + body


@dataclass(frozen=True)
class Environment:
    """A ready environment."""

    python: Path
    key: str
    skipped: tuple[str, ...]
    """The optional layers that failed to install, each with uv's reason."""
    is_new: bool


def env_key(layers: Sequence[Layer]) -> str:
    """The cache key of an environment: every layer's content and the interpreter."""
    digest = hashlib.sha256()
    for layer in layers:
        digest.update(hashlib.sha256(layer.content()).digest())
    digest.update(sys.version.encode())
    digest.update(sys.prefix.encode())
    return digest.hexdigest()[:24]


def ensure_env(
    layers: Sequence[Layer] | Path,
    envs_dir: Path,
    log: Callable[[str], None] = lambda _line: None,
    *,
    name: str | None = None,
) -> Environment:
    """The environment for ``layers`` (or one requirements file), built if not cached."""
    if isinstance(layers, Path):
        layers = [Layer.from_file(layers)]
    target = envs_dir / env_key(layers)
    python = target / "bin" / "python"
    if not python.exists():
        envs_dir.mkdir(parents=True, exist_ok=True)
        with open(envs_dir / f"{target.name}.lock", "w") as lock:
            # Two jobs with the same layers build once; the second waits and reuses.
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not python.exists():
                _build(layers, target, log, name or target.name)
                return Environment(python, target.name, _skipped(target), is_new=True)
    log(f"Using environment {target.name} for {name or target.name} (cached)")
    return Environment(python, target.name, _skipped(target), is_new=False)


def _build(layers: Sequence[Layer], target: Path, log: Callable[[str], None], name: str) -> None:
    labels = ", ".join(layer.label for layer in layers)
    log(f"Building environment for {name} ({labels}) with uv")
    started = time.monotonic()
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        _uv("venv", "--quiet", "--relocatable", "--python", sys.executable, str(staging))
        skipped = [
            reason
            for layer in layers
            if (reason := _install(layer, staging / "bin" / "python")) is not None
        ]
        (staging / _MANIFEST).write_text(json.dumps({"skipped": skipped}))
        _compile_bytecode(staging)
        _link_base_packages(staging)
        # Built aside and renamed (a relocatable venv), so no job ever sees a half-built one.
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log(f"Environment {target.name} ready in {time.monotonic() - started:.1f} s")


def _install(layer: Layer, python: Path) -> str | None:
    """Install one layer; None, or why an optional layer was skipped."""
    with tempfile.TemporaryDirectory(prefix="kiln-reqs-") as scratch:
        source = layer.path
        if source is None:
            source = Path(scratch) / "requirements.txt"
            source.write_text("\n".join(layer.requirements) + "\n")
        args = ["pip", "install", "--quiet", "--python", str(python), "-r", str(source)]
        if layer.wheels_only:
            args += ["--only-binary", ":all:"]
        try:
            _uv_cache_first(*args)
        except EnvironmentBuildError as e:
            if not layer.optional:
                raise EnvironmentBuildError(f"{layer.label}: {e}") from e
            return f"{layer.label}: {_summary(str(e))}"
    return None


def _skipped(target: Path) -> tuple[str, ...]:
    try:
        manifest = json.loads((target / _MANIFEST).read_text())
    except FileNotFoundError:
        return ()
    return tuple(str(reason) for reason in manifest.get("skipped", []))


def _summary(uv_error: str) -> str:
    """uv's headline and its last ``error:`` line (a build's own reason)."""
    lines = [line.strip(" ×╰─▶│├") for line in uv_error.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    picked = dict.fromkeys([*lines[:1], *errors[-1:]])
    return " … ".join(picked)[:400] or "failed"


def _compile_bytecode(env: Path) -> None:
    """Compile every module once, as pip does after installing.

    In the sandbox the environment is read-only, so without this every job and replica would
    compile pandas and scikit-learn again on import (measured on 2 busy cores: 10 s instead of
    3 s). Packages' own test suites are skipped: half the files, never imported by a job. A file
    that does not compile (a Python 2 relic in some package) is no error: it never imports.
    """
    purelib = next((env / "lib").glob("python*/site-packages"))
    python = str(env / "bin" / "python")
    skip_tests = r"site-packages/.+/tests?/"
    command = [python, "-m", "compileall", "-q", "-q", "-j", "0", "-x", skip_tests, str(purelib)]
    subprocess.run(command, capture_output=True, check=False)


def _link_base_packages(env: Path) -> None:
    purelib = next((env / "lib").glob("python*/site-packages"))
    base = [p for p in [*site.getsitepackages(), sysconfig.get_path("purelib")] if p]
    # addsitedir, not a bare path: the server's own .pth files (editable installs) count too.
    lines = [f"import site; site.addsitedir({path!r})" for path in dict.fromkeys(base)]
    (purelib / "_kiln_base.pth").write_text("\n".join(lines) + "\n")


def _uv_cache_first(*args: str) -> None:
    """Run uv from its cache alone, and ask the index only if the cache cannot answer.

    Revalidating every index page costs ~10 s per layer even when every wheel is cached.
    """
    try:
        _uv(*args, "--offline")
    except EnvironmentBuildError:
        _uv(*args)


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


def writable_env(target: Path, beneath: Path) -> Path:
    """A fresh virtualenv with pip at ``target`` for jobs that install their own requirements
    (``ContainerEntrypoint``, SDK v3's ``sm_train.sh``): it sees the packages of the Python
    ``beneath`` (an image's environment, or the server's) after its own, and changes neither.
    Its Python executable."""
    _uv("venv", "--quiet", "--seed", "--relocatable", "--python", sys.executable, str(target))
    if beneath == Path(sys.executable):
        _link_base_packages(target)
    else:
        # The image's environment links the server's packages itself, after its own.
        purelib = next((target / "lib").glob("python*/site-packages"))
        image_lib = next((beneath.parent.parent / "lib").glob("python*/site-packages"))
        (purelib / "_kiln_base.pth").write_text(
            f"import site; site.addsitedir({str(image_lib)!r})\n"
        )
    return target / "bin" / "python"
