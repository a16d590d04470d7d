"""A warm spare: a model server that imports its frameworks first and waits for its model.

Process contract (the server's side is :mod:`kiln.services.hosting.warm_spares`)::

    python -m kiln.runtime.model_server --spare --control-fd N

started exactly as a replica is (its own sandbox, cgroup, workspace and pre-bound socket fd),
the spare imports what a replica would need (``WARM_MODULES``, those installed), prints
``{"kiln_phase": "warm", "seconds": …}`` and reads one JSON line from fd ``N``:
``{"argv": [...], "environment": {...}}`` — the replica's model-server arguments and the
variables it would have started with. It closes the fd, takes the variables, and carries on as
``main(argv)`` would. End of file without a line (the server stopped it) ends it with code 0.

Each spare is its own fresh process started by the backend, never a fork: it shares no file
descriptor, lock or random state with the server or another replica by construction.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import orjson

from kiln.runtime.phases import print_phase

# What a replica of the built-in handlers imports to load a pickled scikit-learn or XGBoost
# model. torch and tensorflow are left out on purpose: each costs hundreds of MB idle.
WARM_MODULES = (
    "numpy",
    "joblib",
    "sklearn.base",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "xgboost",
)
_MAX_GO_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Go:
    """What a spare is told once its model is in its workspace."""

    argv: tuple[str, ...]
    environment: Mapping[str, str]

    def encode(self) -> bytes:
        """The control channel's one line."""
        return (
            orjson.dumps({"argv": list(self.argv), "environment": dict(self.environment)}) + b"\n"
        )

    @classmethod
    def decode(cls, line: bytes) -> Go:
        """A go from its line; ValueError if it is not one."""
        data = orjson.loads(line)
        argv, environment = data.get("argv"), data.get("environment")
        if not isinstance(argv, list) or not isinstance(environment, dict):
            raise ValueError("a go line needs argv (a list) and environment (an object)")
        return cls(tuple(str(a) for a in argv), {str(k): str(v) for k, v in environment.items()})


def warm_up(modules: Sequence[str] = WARM_MODULES) -> list[str]:
    """Import each installed module of ``modules``; the ones imported."""
    imported = []
    for name in modules:
        if importlib.util.find_spec(name.partition(".")[0]) is None:
            continue
        try:
            importlib.import_module(name)
        # A broken optional package must not cost the spare: a model that needs it fails
        # to load later, with the same error a cold replica would show.
        except Exception:
            traceback.print_exc()
            continue
        imported.append(name)
    return imported


def wait_for_go(control_fd: int) -> Go | None:
    """Block until the server sends the go; None at end of file (the spare is not wanted)."""
    chunks: list[bytes] = []
    size = 0
    with os.fdopen(control_fd, "rb", buffering=0) as control:
        while not (chunks and chunks[-1].endswith(b"\n")) and size <= _MAX_GO_BYTES:
            chunk = control.read(65536)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    line = b"".join(chunks)
    return Go.decode(line) if line.strip() else None


def run_spare(control_fd: int) -> Go | None:
    """Warm up, say so, and wait for the go; the go with its environment applied."""
    started = time.perf_counter()
    warm_up()
    print_phase("warm", started)
    go = wait_for_go(control_fd)
    if go is not None:
        os.environ.update(go.environment)
    return go
