"""Fixtures of the compat suite: the profile, client virtualenvs, a Kiln per module, clients.

``KILN_COMPAT_PROFILE=short`` (the default, what ``make test`` and CI run) or ``long`` (``make
compat``). A client virtualenv that cannot be built skips its tests, except under ``CI=true``,
where that is a failure: CI must never pass by skipping the conformance suite.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from conftest import Kiln, make_settings, start_kiln

from .harness import (
    ClientVenv,
    VenvBuildError,
    client_env,
    ensure_venv,
    non_loopback_traffic,
    run_client,
)

PROFILE = os.environ.get("KILN_COMPAT_PROFILE", "short")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HERE = Path(__file__).resolve().parent

if PROFILE not in ("short", "long"):
    raise pytest.UsageError(f"KILN_COMPAT_PROFILE={PROFILE!r}: expected 'short' or 'long'")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/compat carries the ``compat`` marker."""
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.compat)


# A whole module of the long profile: ``pytestmark = LONG_PROFILE_ONLY`` skips it before any of
# its fixtures (servers, client virtualenvs) start.
LONG_PROFILE_ONLY = pytest.mark.skipif(
    PROFILE != "long", reason="long profile only: KILN_COMPAT_PROFILE=long (make compat)"
)


@pytest.fixture
def long_profile() -> None:
    """Skip unless the long profile runs (``make compat``)."""
    if PROFILE != "long":
        pytest.skip("long profile only: KILN_COMPAT_PROFILE=long (make compat)")


def _venv(name: str) -> ClientVenv:
    try:
        return ensure_venv(name)
    except VenvBuildError as e:
        message = f"the {name} client virtualenv could not be built: {e}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def sdk_v2() -> ClientVenv:
    return _venv("sdk-v2")


@pytest.fixture(scope="session")
def sdk_v3() -> ClientVenv:
    return _venv("sdk-v3")


@pytest.fixture(scope="session")
def awscli() -> ClientVenv:
    return _venv("awscli")


@pytest.fixture(scope="session")
def moto_client() -> ClientVenv:
    return _venv("moto")


@dataclass
class Clients:
    """A running Kiln, the environment its clients get, and a way to run them."""

    kiln: Kiln
    env: dict[str, str]
    workdir: Path

    def run(self, argv: list[Any], timeout: float = 600, **extra_env: str) -> str:
        """Run a client to its end; its output. Fails on a non-zero exit or non-loopback traffic."""
        before = len(non_loopback_traffic(self.env))
        done = run_client(argv, {**self.env, **extra_env}, cwd=self.workdir, timeout=timeout)
        print(done.stdout)  # shown by pytest when the test fails
        leaked = non_loopback_traffic(self.env)[before:]
        assert not leaked, "a client contacted something other than 127.0.0.1:\n" + "\n".join(
            leaked
        )
        if done.returncode != 0:
            raise AssertionError(
                f"{' '.join(map(str, argv[:3]))} exited {done.returncode}:\n{done.stdout[-6000:]}"
            )
        return done.stdout

    def run_script(self, argv: list[Any], timeout: float = 600, **extra_env: str) -> Any:
        """Run a client script; (its last ``RESULT {json}`` line, parsed; its whole output)."""
        output = self.run(argv, timeout, **extra_env)
        lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
        assert lines, f"no RESULT line in:\n{output[-4000:]}"
        return json.loads(lines[-1][len("RESULT ") :]), output

    def aws(self, awscli: ClientVenv, *args: str) -> Any:
        """``aws ARGS --output json``; the parsed answer (None when it prints nothing)."""
        output = self.run([awscli.bin("aws"), *args, "--output", "json"], timeout=120)
        return json.loads(output) if output.strip() else None


@contextmanager
def running_clients(root: Path, **settings_env: str) -> Iterator[Clients]:
    """A real Kiln under ``root`` on free 127.0.0.1 ports (``settings_env``: extra ``KILN_*``)."""
    settings = make_settings(root / "kiln-home", f"sqlite:///{root / 'kiln.db'}", **settings_env)
    with start_kiln(settings) as kiln:
        settings = replace(kiln.settings, endpoint=kiln.endpoint)
        kiln.settings = settings
        workdir = root / "work"
        workdir.mkdir()
        yield Clients(kiln, client_env(settings, root / "client-home"), workdir)


@pytest.fixture(scope="module")
def clients(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Clients]:
    """A real Kiln for this module on free 127.0.0.1 ports, with its own KILN_HOME."""
    with running_clients(tmp_path_factory.mktemp("compat")) as running:
        yield running


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``train.csv``: the breast-cancer data, label first, no header."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    cancer = load_breast_cancer()
    folder = tmp_path_factory.mktemp("cancer")
    rows = np.column_stack([cancer.target, cancer.data])
    np.savetxt(folder / "train.csv", rows, delimiter=",", fmt="%.10g")
    return folder
