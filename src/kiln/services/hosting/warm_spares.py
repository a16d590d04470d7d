"""Warm spares: model servers started ahead, frameworks imported, waiting for a model.

A cold replica spends 1–4 s importing numpy and scikit-learn; a spare has done that already.
Spares are kept per ``SpareKey`` (the Python they run, and the replica size their cgroup was
made with: both are fixed when a process starts). Each is started by the backend exactly as a
replica (:mod:`kiln.runtime.warm` has the process's side): its own sandbox, cgroup, workspace,
pid file and pre-bound socket, plus the read end of a pipe, its control channel. ``take`` hands
one to the launcher, which moves the model into its workspace and sends the go; a thread
starts a replacement in the background and replaces spares that died.

Spares are not replicas: no route, metric or ``DescribeEndpoint`` counts them. Their pid files
sit beside the replicas' (``KILN_HOME/pids/replicas``), so ``reap_leftovers`` reaps them after
a crash; ``stop`` ends them with the server.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from kiln.compute.base import ProcessSpec
from kiln.compute.local import LocalBackend, LocalProcess
from kiln.compute.sockets import bound_unix_socket
from kiln.config import Settings
from kiln.pidfiles import write_text_atomically
from kiln.runtime.warm import Go
from kiln.services.process_env import base_environment, storage_environment

log = logging.getLogger(__name__)

MAX_FAILURES = 3
"""Spares of one key that may die unasked in a row before Kiln stops warming that key."""
_CHECK_SECONDS = 0.5

# Variables a process reads when it imports its libraries (thread pools, allocators, the
# interpreter itself): a spare has imported them already, so a model setting one starts cold.
_IMPORT_TIME_PREFIXES = (
    "PYTHON",
    "LD_",
    "MALLOC_",
    "OMP_",
    "KMP_",
    "MKL_",
    "OPENBLAS_",
    "GOTO",
    "BLIS_",
    "VECLIB_",
    "NUMEXPR_",
    "NUMBA_",
    "NPY_",
    "NUMPY_",
    "SKLEARN_",
    "JOBLIB_",
    "XGBOOST_",
)


@dataclass(frozen=True)
class SpareKey:
    """What a spare is fixed to at start: its interpreter and its cgroup's size."""

    python: Path
    vcpus: int
    memory_mib: int


@dataclass(eq=False)
class Spare:
    """A started spare process, waiting for its go."""

    id: str
    workspace: Path
    socket_path: Path
    socket_fd: int
    """The listening socket's fd number inside the spare."""
    process: LocalProcess
    control: int
    """The write end of its control pipe (the server's)."""


@dataclass
class _Slot:
    """One key's spares and how many died unasked in a row."""

    spares: list[Spare] = field(default_factory=list)
    failures: int = 0


def can_use_spare(environment: Mapping[str, object]) -> bool:
    """Whether a model's ``Environment`` lets it start from a spare (none read at import)."""
    return not any(name.upper().startswith(_IMPORT_TIME_PREFIXES) for name in environment)


def spares_to_start(wanted: int, alive: int, failures: int) -> int:
    """How many spares to start for one key now."""
    if failures >= MAX_FAILURES:
        return 0
    return max(0, wanted - alive)


class WarmSpares:
    """Keeps ``settings.warm_spares`` spares per key; ``take`` hands one over."""

    def __init__(self, settings: Settings, backend: LocalBackend) -> None:
        self._settings = settings
        self._backend = backend
        self._slots: dict[SpareKey, _Slot] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._should_exit = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def is_on(self) -> bool:
        """Whether spares are kept at all (``KILN_WARM_SPARES`` above 0)."""
        return self._settings.warm_spares > 0

    def start(self, keys: list[SpareKey]) -> None:
        """Warm ``keys`` now and keep every key's spares topped up from a thread."""
        if not self.is_on:
            return
        for key in keys:
            self.want(key)
        self._thread = threading.Thread(target=self._keep, name="kiln-warm-spares", daemon=True)
        self._thread.start()

    def want(self, key: SpareKey) -> None:
        """Keep spares for ``key`` from now on."""
        with self._lock:
            self._slots.setdefault(key, _Slot())
        self._wake.set()

    def take(self, key: SpareKey) -> Spare | None:
        """A live spare for ``key``, or None."""
        if not self.is_on or self._should_exit.is_set():
            return None
        self.want(key)
        with self._lock:
            spares = self._slots[key].spares
            spare = next((s for s in spares if s.process.poll() is None), None)
            if spare is not None:
                spares.remove(spare)
                self._slots[key].failures = 0  # one lived until asked: the count is in a row
        self._wake.set()
        return spare

    def hand_over(self, spare: Spare, go: Go, replica_id: str) -> bool:
        """Send ``spare`` its go as replica ``replica_id`` (its pid file renamed for it); False
        if it is gone (the caller starts cold)."""
        self._pid_file(spare.id).replace(self._pid_file(replica_id))
        try:
            os.write(spare.control, go.encode())
        except OSError:  # EPIPE: it died after take
            return False
        finally:
            os.close(spare.control)
        return True

    def count(self) -> int:
        """Spares alive now (all keys)."""
        with self._lock:
            return sum(len(slot.spares) for slot in self._slots.values())

    def stop(self) -> None:
        """End every spare and the thread that keeps them."""
        self._should_exit.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        with self._lock:
            spares = [s for slot in self._slots.values() for s in slot.spares]
            self._slots.clear()
        for spare in spares:
            self.discard(spare)

    # -- the keeper ----------------------------------------------------------------------------

    def _keep(self) -> None:
        while not self._should_exit.is_set():
            self._wake.clear()
            with self._lock:
                keys = list(self._slots)
            for key in keys:
                self._top_up(key)
            self._wake.wait(_CHECK_SECONDS)

    def _top_up(self, key: SpareKey) -> None:
        with self._lock:
            slot = self._slots[key]
            dead = [s for s in slot.spares if s.process.poll() is not None]
            slot.spares = [s for s in slot.spares if s not in dead]
            slot.failures += len(dead)
            missing = spares_to_start(self._settings.warm_spares, len(slot.spares), slot.failures)
        for spare in dead:
            log.warning("warm spare %s ended unasked; replacing it", spare.id)
            self.discard(spare)
        for _ in range(missing):
            if self._should_exit.is_set():
                return
            try:
                spare = self._launch(key)
            except OSError as e:
                log.warning("warm spare for %s not started: %s", key.python, e)
                with self._lock:
                    slot.failures += 1
                continue
            with self._lock:
                slot.spares.append(spare)

    def _launch(self, key: SpareKey) -> Spare:
        spare_id = f"spare-{uuid.uuid4().hex[:12]}"
        workspace = self._settings.run_dir / "replicas" / spare_id
        socket_path = self._settings.run_dir / "sockets" / f"{spare_id}.sock"
        workspace.mkdir(parents=True)
        listener = bound_unix_socket(socket_path)
        socket_fd = listener.fileno()
        read, write = os.pipe()
        try:
            process = self._backend.start(self._spec(key, spare_id, workspace, socket_fd, read))
        except BaseException:
            os.close(write)
            shutil.rmtree(workspace, ignore_errors=True)
            socket_path.unlink(missing_ok=True)
            raise
        finally:
            os.close(read)
            listener.close()
        try:
            write_text_atomically(self._pid_file(spare_id), process.ref)
        except OSError as e:  # as for replicas: only a crash would orphan it
            log.warning("warm spare %s: pid file not written: %s", spare_id, e)
        return Spare(spare_id, workspace, socket_path, socket_fd, process, write)

    def _spec(
        self, key: SpareKey, spare_id: str, workspace: Path, socket_fd: int, control_fd: int
    ) -> ProcessSpec:
        argv = [str(key.python), "-m", "kiln.runtime.model_server", "--spare", "--control-fd"]
        return ProcessSpec(
            name=f"replica-{spare_id}",
            argv=[*argv, str(control_fd)],
            # What every replica of that Python starts with; the go brings the model's own.
            env={
                **base_environment(key.python, sandboxed=self._backend.is_sandboxed),
                **storage_environment(self._settings),
            },
            workspace=workspace,
            cwd=self._backend.container_path(workspace),
            vcpus=key.vcpus,
            memory_mib=key.memory_mib,
            read_only_paths=(key.python.parent.parent,),
            pass_fds=(socket_fd, control_fd),
        )

    def discard(self, spare: Spare) -> None:
        """End ``spare`` and remove its files (one dead, one stopped, or one taken that could
        not be used)."""
        try:
            os.close(spare.control)  # end of file: a waiting spare exits by itself
        except OSError:
            pass  # closed by hand_over
        if spare.process.poll() is None:
            spare.process.stop(1.0)
        spare.process.release()
        close_output(spare.process)
        shutil.rmtree(spare.workspace, ignore_errors=True)
        spare.socket_path.unlink(missing_ok=True)
        self._pid_file(spare.id).unlink(missing_ok=True)

    def _pid_file(self, name: str) -> Path:
        # Beside the replicas' pid files: ReplicaLauncher.reap_leftovers reaps both.
        return self._settings.pids_dir / "replicas" / f"{name}.json"


def close_output(process: LocalProcess) -> None:
    """Close the pipes of a process whose output no one reads (a spare never taken)."""
    process.stdout.close()
    process.stderr.close()
