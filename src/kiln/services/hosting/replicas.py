"""Model replicas: prepare a model folder, start ``kiln.runtime.model_server``, wait for /ping.

A replica's start is timed by phase — download, extract, environment, load (reported by the
replica itself), first ping — and the phases go to the server log and the endpoint's state.
A replica is healthy only once its model is loaded: the replica does not listen before that.
What its archives expand to must fit in its volume: the variant's ``VolumeSizeInGB``, or
``DEFAULT_REPLICA_VOLUME_GB`` (30 GiB) where the variant sets none.

Each running replica has a pid file (``KILN_HOME/pids/replicas``): a server killed with
``kill -9`` cannot stop its replicas, so the next one reaps them (``reap_leftovers``) before it
starts its own, and removes the folders they left under ``run_dir``.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from kiln.compute.base import LISTEN, Backend, ProcessHandle, ProcessSpec, Stream
from kiln.compute.sockets import ping, socket_file
from kiln.config import Settings
from kiln.errors import ValidationError
from kiln.pidfiles import write_text_atomically
from kiln.runtime.archives import ArchiveTooLargeError, UnsafeArchiveError, safe_extract
from kiln.runtime.envs import EnvironmentBuildError
from kiln.runtime.exit_codes import EXIT_LOAD_FAILED
from kiln.runtime.host_plan import FAILED_PREFIX, PLAN_VARIABLE, PYTHON, HostPlan, Unpack
from kiln.runtime.warm import Go
from kiln.services.capacity import (
    Demand,
    clamp,
    demand_of,
    machine_capacity,
    machine_name,
    out_of_memory_reason,
    shortfall,
)
from kiln.services.hosting.model_code import code_location
from kiln.services.hosting.routing import ReplicaAddress
from kiln.services.hosting.warm_spares import (
    SpareKey,
    WarmSpares,
    can_use_spare,
)
from kiln.services.logs import LogStore, StreamWriter
from kiln.services.logs.names import endpoint_group, replica_stream
from kiln.services.logs.tolerant import TolerantWriter
from kiln.services.process_credentials import ProcessCredentials, ProcessKeys, key_environment
from kiln.services.process_env import base_environment, storage_environment
from kiln.services.training.job_envs import python_for
from kiln.services.volumes import DEFAULT_REPLICA_VOLUME_GB, replica_volume_reason, volume_bytes
from kiln.storage import ObjectNotFoundError, ObjectStore, S3Uri

log = logging.getLogger(__name__)

_FAILED_PREFIX = "kiln-replica: failed: "
_PID_KIND = "replicas"


class ReplicaStartError(Exception):
    """A replica could not start; the message is the endpoint's FailureReason."""


@dataclass(frozen=True)
class ReplicaSpec:
    """What one replica serves."""

    endpoint: str
    variant: str
    container: dict[str, Any]
    instance_type: str
    startup_timeout: float
    volume_size_gb: int | None = None
    """The variant's ``VolumeSizeInGB``; None for Kiln's default."""
    role_arn: str | None = None  # the model's ExecutionRoleArn: whose keys the replica gets


@dataclass(eq=False)
class Replica:
    """A started replica process."""

    id: str
    spec: ReplicaSpec
    workspace: Path
    address: ReplicaAddress
    process: ProcessHandle
    phases: dict[str, float] = field(default_factory=dict)
    failed_pings: int = 0
    keys: ProcessKeys | None = None
    is_from_spare: bool = False

    def is_running(self) -> bool:
        """Whether the process is alive."""
        return self.process.poll() is None


class ReplicaLauncher:
    """Starts and stops replicas on the compute backend."""

    def __init__(
        self,
        settings: Settings,
        objects: ObjectStore,
        backend: Backend,
        logs: LogStore,
        *,
        credentials: ProcessCredentials,
        spares: WarmSpares | None = None,
    ) -> None:
        self._spares = spares
        self._settings = settings
        self._credentials = credentials
        self._objects = objects
        self._backend = backend
        self._logs = logs
        self._noted: set[tuple[str, str, str]] = set()

    def start(self, spec: ReplicaSpec) -> Replica:
        """Prepare, launch and wait until the replica answers /ping; ReplicaStartError if not."""
        replica_id = f"{spec.endpoint[:24]}-{uuid.uuid4().hex[:8]}"
        workspace = self._settings.run_dir / "replicas" / replica_id
        socket_path = self._socket_path(replica_id)
        phases: dict[str, float] = {}
        keys = None
        try:
            python, code_dir = self._prepare(spec, workspace, phases)
            keys = self._credentials.for_replica(replica_id, spec.role_arn)
            launch = _Launch(spec, replica_id, python, code_dir.relative_to(workspace), keys)
            replica = self._from_spare(launch, workspace, phases)
            if replica is None:
                replica = self._launch_cold(launch, workspace, socket_path, phases)
        except BaseException:
            self._credentials.revoke(keys)
            shutil.rmtree(workspace, ignore_errors=True)
            socket_path.unlink(missing_ok=True)
            raise
        replica = self._wait_or_restart(launch, replica)
        log.info(
            "endpoint %s variant %s replica %s ready%s: %s",
            spec.endpoint,
            spec.variant,
            replica_id,
            " (from a warm spare)" if replica.is_from_spare else "",
            " ".join(f"{k}={v:.3f}s" for k, v in phases.items()),
        )
        return replica

    def _launch_cold(
        self, launch: _Launch, workspace: Path, socket_path: Path, phases: dict[str, float]
    ) -> Replica:
        """Start a fresh model server on ``workspace``'s model (the way without spares)."""
        process = self._launch(
            launch.spec,
            launch.replica_id,
            workspace,
            launch.python,
            workspace / launch.code_dir,
            socket_path,
            launch.keys,
        )
        self._write_ref_file(launch.replica_id, process.ref)
        assert process.address is not None  # a replica's spec has a socket path
        address = ReplicaAddress(process.address, launch.spec.variant, replica_id=launch.replica_id)
        return Replica(
            launch.replica_id, launch.spec, workspace, address, process, phases, keys=launch.keys
        )

    def _from_spare(
        self, launch: _Launch, workspace: Path, phases: dict[str, float]
    ) -> Replica | None:
        """The replica as a warm spare of its Python and size becomes it; None: start cold."""
        spec = launch.spec
        if self._backend.stages_remotely:  # spares are started with the model's files here
            return None
        if self._spares is None or not can_use_spare(spec.container.get("Environment", {})):
            return None
        size = self._size(spec)
        key = SpareKey(launch.python, size.vcpus, size.memory_mib)
        spare = self._spares.take(key)
        if spare is None:
            return None
        started = time.monotonic()
        try:
            for entry in workspace.iterdir():
                entry.rename(spare.workspace / entry.name)
            workspace.rmdir()
        except OSError:
            self._spares.discard(spare)
            raise
        seen = self._backend.container_path(spare.workspace)
        go = Go(
            (*_server_args(seen, launch.code_dir), "--fd", str(spare.socket_fd)),
            self._environment(spec, launch.python, launch.keys),
        )
        if self._spares.hand_over(spare, go, launch.replica_id):
            phases["spare_handover"] = time.monotonic() - started
        # else it died after take: _wait_or_restart finds it ended and starts cold in its place.
        address = ReplicaAddress(str(spare.socket_path), spec.variant, replica_id=launch.replica_id)
        return Replica(
            launch.replica_id,
            spec,
            spare.workspace,
            address,
            spare.process,
            phases,
            keys=launch.keys,
            is_from_spare=True,
        )

    def _wait_or_restart(self, launch: _Launch, replica: Replica) -> Replica:
        """Wait until ``replica`` is healthy; a spare that failed by no fault of the model's
        is started again cold in the same workspace, never a failure of its own."""
        try:
            self._wait_until_healthy(replica)
            return replica
        except ReplicaStartError:
            code = replica.process.poll()
            if not replica.is_from_spare or code is None or code == EXIT_LOAD_FAILED:
                self.stop(replica, grace=0)
                raise
        except BaseException:
            self.stop(replica, grace=0)
            raise
        log.warning("replica %s: warm spare exited with %s; starting cold", replica.id, code)
        replica.process.release()
        socket_path = Path(replica.address.location)
        try:
            cold = self._launch_cold(launch, replica.workspace, socket_path, replica.phases)
            self._wait_until_healthy(cold)
        except BaseException:
            self.stop(replica, grace=0)  # the same id, workspace, socket and keys as the cold one
            raise
        return cold

    def stop(self, replica: Replica, grace: float = 30.0) -> None:
        """SIGTERM, then SIGKILL after ``grace`` (SageMaker gives 30 s); remove its files."""
        replica.address.is_healthy = False
        if replica.is_running():
            replica.process.stop(grace)
        replica.process.release()
        self._credentials.revoke(replica.keys)
        shutil.rmtree(replica.workspace, ignore_errors=True)
        listened_at = socket_file(replica.address.location)
        if listened_at is not None:
            listened_at.unlink(missing_ok=True)
        self._pid_file(replica.id).unlink(missing_ok=True)

    def reap_leftovers(self) -> int:
        """Stop the replicas a previous server left and remove their folders; how many ran."""
        reaped = 0
        for path in sorted(self._settings.pids_dir.glob(f"{_PID_KIND}/*.json")):
            try:
                leftover = self._backend.attach(path.read_text())
            except OSError:
                leftover = None
            if leftover is not None:
                log.warning("stopping a replica a previous server left: %s", leftover.ref)
                leftover.stop(0)
                leftover.release()
                reaped += 1
            path.unlink(missing_ok=True)
        shutil.rmtree(self._settings.run_dir / "replicas", ignore_errors=True)
        shutil.rmtree(self._settings.run_dir / "sockets", ignore_errors=True)
        return reaped

    def warm_keys(self) -> list[SpareKey]:
        """The spares to warm at server start: the server's own Python (the default
        ``kiln/python`` runtime), at each size of ``KILN_WARM_INSTANCE_TYPES``."""
        capacity = machine_capacity(self._settings)
        keys = []
        for name in self._settings.warm_instance_types:
            size = clamp(demand_of(self._settings.instance_types[name]), capacity)
            keys.append(SpareKey(Path(sys.executable), size.vcpus, size.memory_mib))
        return list(dict.fromkeys(keys))

    def _pid_file(self, replica_id: str) -> Path:
        return self._settings.pids_dir / _PID_KIND / f"{replica_id}.json"

    def _socket_path(self, replica_id: str) -> Path:
        return self._settings.run_dir / "sockets" / f"{replica_id}.sock"

    def _write_ref_file(self, replica_id: str, ref: str) -> None:
        try:
            write_text_atomically(self._pid_file(replica_id), ref)
        except OSError as e:  # a full disk must not stop a replica; only a crash would orphan it
            log.warning("replica %s: its reference was not written: %s", replica_id, e)

    def ping(self, replica: Replica, timeout: float = 2.0) -> bool:
        """Whether the replica answers ``GET /ping`` with 200 within ``timeout``."""
        return ping(replica.address.location, timeout)

    # -- preparation ---------------------------------------------------------------------------

    def _prepare(
        self, spec: ReplicaSpec, workspace: Path, phases: dict[str, float]
    ) -> tuple[Path, Path]:
        if self._backend.stages_remotely:
            return self._prepare_on_node(spec, workspace)
        model_dir = workspace / "model"
        model_dir.mkdir(parents=True)
        room = volume_bytes(spec.volume_size_gb, DEFAULT_REPLICA_VOLUME_GB)
        model_data = spec.container.get("ModelDataUrl")
        if model_data:
            archive = _Archive(model_data, workspace / "model.tar.gz", model_dir, "model")
            room -= self._fetch_archive(spec, archive, room, phases)
        location = self._code_location(spec)
        if isinstance(location, S3Uri):
            code_dir = workspace / "code"
            archive = _Archive(str(location), workspace / "sourcedir.tar.gz", code_dir, "code")
            self._fetch_archive(spec, archive, room, phases)
        else:
            code_dir = model_dir / location
        started = time.monotonic()
        python = self._python_for(spec, code_dir, workspace.name)
        phases["environment"] = time.monotonic() - started
        return python, code_dir

    def _prepare_on_node(self, spec: ReplicaSpec, workspace: Path) -> tuple[Path, Path]:
        """Where the node will put the code (it fetches model and code itself: ``_node_plan``);
        the interpreter is the one it chooses."""
        workspace.mkdir(parents=True)  # empty here: a backend's mount point
        location = self._code_location(spec)
        if isinstance(location, S3Uri):
            return Path(PYTHON), workspace / "code"
        return Path(PYTHON), workspace / "model" / location

    def _node_plan(self, spec: ReplicaSpec, code_dir: Path) -> HostPlan:
        """What the replica's node fetches before the model server starts."""
        unpack = []
        if spec.container.get("ModelDataUrl"):
            unpack.append(Unpack(spec.container["ModelDataUrl"], "model"))
        location = self._code_location(spec)
        if isinstance(location, S3Uri):
            unpack.append(Unpack(str(location), "code"))
        return HostPlan(
            argv=(),
            cwd=".",
            code=code_dir.as_posix(),
            unpack=tuple(unpack),
            volume_bytes=volume_bytes(spec.volume_size_gb, DEFAULT_REPLICA_VOLUME_GB),
            phases=True,
            overfill="Failed to extract {folder} data from {uri}: "
            + replica_volume_reason("{name} expands to", spec.volume_size_gb),
            image=spec.container.get("Image"),
        )

    @staticmethod
    def _code_location(spec: ReplicaSpec) -> S3Uri | PurePosixPath:
        try:
            return code_location(spec.container.get("Environment", {}))
        except ValidationError as e:
            raise ReplicaStartError(str(e)) from e

    def _fetch_archive(
        self, spec: ReplicaSpec, archive: _Archive, room: int, phases: dict[str, float]
    ) -> int:
        """Download and extract ``archive`` within ``room`` bytes; the bytes it took."""
        what = archive.what
        started = time.monotonic()
        try:
            uri = S3Uri.parse(archive.uri)
        except ValidationError as e:
            raise ReplicaStartError(f"Invalid {what} data URL: {e}") from e
        try:
            self._objects.download_file(uri, archive.path)
        except ObjectNotFoundError:
            raise ReplicaStartError(f"Could not find {what} data at {uri}") from None
        phases[f"download_{what}"] = time.monotonic() - started
        started = time.monotonic()
        try:
            used = safe_extract(archive.path, archive.dest, max(0, room))
        except ArchiveTooLargeError:
            reason = replica_volume_reason(f"{archive.path.name} expands to", spec.volume_size_gb)
            raise ReplicaStartError(f"Failed to extract {what} data from {uri}: {reason}") from None
        except UnsafeArchiveError as e:
            raise ReplicaStartError(f"Failed to extract {what} data from {uri}: {e}") from e
        finally:
            archive.path.unlink(missing_ok=True)
        phases[f"extract_{what}"] = time.monotonic() - started
        return used

    def _python_for(self, spec: ReplicaSpec, code_dir: Path, replica_id: str) -> Path:
        """The model image's environment, with the code's ``requirements.txt`` over it."""
        group, stream = endpoint_group(spec.endpoint), replica_stream(spec.variant, replica_id)
        replica_log = TolerantWriter(lambda: self._logs.open_stream(group, stream), stream)

        def note(line: str) -> None:
            replica_log.write(f"[kiln] {line}")
            log.info("endpoint %s variant %s: %s", spec.endpoint, spec.variant, line)

        try:
            return python_for(spec.container.get("Image"), code_dir, self._settings.envs_dir, note)
        except EnvironmentBuildError as e:
            raise ReplicaStartError(f"Installing the model's environment failed: {e}") from e
        finally:
            replica_log.close()

    # -- launch and health ---------------------------------------------------------------------

    def _launch(
        self,
        spec: ReplicaSpec,
        replica_id: str,
        workspace: Path,
        python: Path,
        code_dir: Path,
        socket_path: Path,
        keys: ProcessKeys | None,
    ) -> ProcessHandle:
        seen = self._backend.container_path(workspace)
        size = self._size(spec)
        relative_code = code_dir.relative_to(workspace)
        argv = [
            str(python),
            "-m",
            "kiln.runtime.model_server",
            *_server_args(seen, relative_code),
            LISTEN,
        ]
        env = self._environment(spec, python, keys)
        environment = python.parent.parent
        if self._backend.stages_remotely:
            environment = Path(sys.prefix)  # the agent's; the node builds the model's
            env[PLAN_VARIABLE] = self._node_plan(spec, relative_code).dump()
            argv = [sys.executable, "-m", "kiln.runtime.host_agent", "--", *argv]
        return self._backend.start(
            ProcessSpec(
                name=f"replica-{replica_id}",
                argv=argv,
                env=env,
                workspace=workspace,
                cwd=seen,
                vcpus=size.vcpus,
                memory_mib=size.memory_mib,
                # The backend adds the server's own Python and kiln; an image's or a
                # requirements.txt's environment is one folder of envs_dir.
                read_only_paths=(environment,),
                socket_path=socket_path,
            )
        )

    def _size(self, spec: ReplicaSpec) -> Demand:
        """What the replica runs on: its instance type cut to this machine, said once a variant."""
        capacity = machine_capacity(self._settings)
        size = self._settings.instance_types.get(spec.instance_type)
        if size is None:  # checked at CreateEndpointConfig; a type botocore has since dropped
            return clamp(Demand(1, 2048), capacity)
        key = (spec.endpoint, spec.variant, spec.instance_type)
        note = shortfall(spec.instance_type, size, 1, capacity, machine_name(self._settings))
        if note is not None and key not in self._noted:
            self._noted.add(key)
            log.warning("endpoint %s variant %s: %s", spec.endpoint, spec.variant, note)
        return clamp(demand_of(size), capacity)

    def _out_of_memory(self, spec: ReplicaSpec, failure: str) -> str:
        """``failure`` (``Variant V: …``) led by why: the kernel's OOM killer."""
        size = self._settings.instance_types.get(spec.instance_type)
        given = self._size(spec).memory_mib
        asked = size.memory_mib if size is not None else given
        reason = out_of_memory_reason("the model server", spec.instance_type, asked, given)
        prefix = f"Variant {spec.variant}: "
        return f"{prefix}{reason}; {failure.removeprefix(prefix)}"

    def _environment(
        self, spec: ReplicaSpec, python: Path, keys: ProcessKeys | None
    ) -> dict[str, str]:
        if python == Path(PYTHON):  # the node chooses it; the agent runs on the server's
            python = Path(sys.executable)
        return {
            **base_environment(python, sandboxed=self._backend.is_sandboxed),
            **{k: str(v) for k, v in spec.container.get("Environment", {}).items()},
            **storage_environment(self._settings),
            **key_environment(keys),
        }

    def _wait_until_healthy(self, replica: Replica) -> None:
        group = endpoint_group(replica.spec.endpoint)
        stream = replica_stream(replica.spec.variant, replica.id)
        writer = TolerantWriter(lambda: self._logs.open_stream(group, stream), stream)
        output = _ReplicaOutput(replica, writer)
        started = time.monotonic()
        deadline = started + replica.spec.startup_timeout
        while time.monotonic() < deadline:
            code = replica.process.poll()
            if code is not None:
                output.join()
                failure = output.failure(code, replica.spec.variant)
                if replica.process.was_oom_killed():
                    failure = self._out_of_memory(replica.spec, failure)
                raise ReplicaStartError(failure)
            if output.is_listening.is_set() and self.ping(replica, timeout=1.0):
                replica.phases["first_ping"] = time.monotonic() - output.listening_at
                return
            output.is_listening.wait(0.01)
        raise ReplicaStartError(
            f"The primary container for production variant {replica.spec.variant} did not pass "
            f"the ping health check within {replica.spec.startup_timeout:.0f} s. "
            f"See log stream {stream} in log group {group}"
        )


class _ReplicaOutput:
    """Copies a replica's output to its log stream, reading phase lines and the failure summary."""

    def __init__(self, replica: Replica, writer: StreamWriter) -> None:
        self.is_listening = threading.Event()
        self.listening_at = 0.0
        self._replica = replica
        self._stderr: deque[str] = deque(maxlen=30)
        self._lock = threading.Lock()
        self._writer = writer  # closed by the last pump
        self._open_pumps = 2
        self._threads = [
            threading.Thread(target=self._pump, args=(stream, is_err), daemon=True)
            for stream, is_err in (
                (replica.process.lines(Stream.STDOUT), False),
                (replica.process.lines(Stream.STDERR), True),
            )
        ]
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        """Wait until both streams are drained."""
        for thread in self._threads:
            thread.join(timeout=5)

    def failure(self, code: int, variant: str) -> str:
        """The FailureReason for a replica that exited with ``code`` before it was ready."""
        staging = next((line for line in self._stderr if line.startswith(FAILED_PREFIX)), None)
        if staging is not None:
            return f"Variant {variant}: {staging[len(FAILED_PREFIX) :]}"
        summary = next(
            (line for line in reversed(self._stderr) if line.startswith(_FAILED_PREFIX)), None
        )
        if summary is not None:
            # The model server exits EXIT_LOAD_FAILED when the code or model fails to load.
            what = (
                "loading the model failed"
                if code == EXIT_LOAD_FAILED
                else "the model server failed"
            )
            return f"Variant {variant}: {what}: {summary[len(_FAILED_PREFIX) :]}"
        tail = "\n".join(list(self._stderr)[-5:])
        return f"Variant {variant}: the model server exited with code {code} before ready: {tail}"

    def _pump(self, lines: Iterator[bytes], is_stderr: bool) -> None:
        for raw in lines:
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if is_stderr:
                self._stderr.append(line)
            elif line.startswith('{"kiln_phase"'):
                self._phase(line)
            self._writer.write(line)
        with self._lock:
            self._open_pumps -= 1
            if self._open_pumps == 0:
                self._writer.close()

    def _phase(self, line: str) -> None:
        try:
            event = json.loads(line)
        except ValueError:
            return
        name, seconds = event.get("kiln_phase"), event.get("seconds")
        if isinstance(name, str) and isinstance(seconds, int | float):
            self._replica.phases[name] = float(seconds)
        if name == "listening":
            self.listening_at = time.monotonic()
            self.is_listening.set()


def _server_args(seen: Path, code_dir: Path) -> list[str]:
    """The model server's arguments, for a workspace seen at ``seen`` (code_dir relative);
    where it listens comes after them."""
    return ["--model-dir", str(seen / "model"), "--code-dir", str(seen / code_dir)]


@dataclass(frozen=True)
class _Launch:
    """What starting one replica's process needs, once its model is prepared."""

    spec: ReplicaSpec
    replica_id: str
    python: Path
    code_dir: Path
    """Relative to the workspace."""
    keys: ProcessKeys | None


@dataclass(frozen=True)
class _Archive:
    """A tarball a replica needs: where it is, where it goes, what it holds (model or code)."""

    uri: str
    path: Path
    dest: Path
    what: str
