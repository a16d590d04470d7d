"""Runs one training job from queue to terminal state, on a thread of its own.

Downloading: the workspace (one ``/opt/ml`` tree per host), channels, checkpoints, the source
tarball and its virtualenv. Training: one process per host, logs pumped, metrics scanned,
checkpoints synced, stop and MaxRuntime watched. Uploading: ``model.tar.gz`` and ``output.tar.gz``.
Then the terminal state, and the workspace is released.

Nothing stuck, nothing lost: the terminal state is written again and again (with backoff) while
the database cannot take it (a full disk), so no job stays ``InProgress`` once its runner is
done; and a job that fails once its model exists but before the model is stored keeps its
workspace for a while (``kept_workspaces``) instead of deleting the only copy.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from kiln.compute.base import Backend, ProcessHandle, ProcessSpec, Stream
from kiln.config import Settings
from kiln.db import TrainingJobRecord, TrainingJobStore
from kiln.errors import (
    ResourceLimitError,
    ServiceUnavailableError,
    ValidationError,
    unavailable_error,
)
from kiln.retries import backoff
from kiln.runtime.archives import ArchiveTooLargeError, UnsafeArchiveError, pack, safe_extract
from kiln.runtime.channel_fetch import fetch_channel
from kiln.runtime.envs import EnvironmentBuildError, writable_env
from kiln.runtime.host_plan import FAILED_PREFIX, FAILURE_PREFIX, PLAN_VARIABLE, PYTHON, HostPlan
from kiln.runtime.workspace import (
    Layout,
    TrainingContext,
    config_files,
    split_hyperparameters,
    training_environment,
    user_args,
    write_config,
)
from kiln.services.capacity import (
    Demand,
    clamp,
    demand_of,
    machine_capacity,
    out_of_memory_reason,
)
from kiln.services.logs import LogStore
from kiln.services.process_credentials import ProcessCredentials, ProcessKeys, key_environment
from kiln.services.process_env import base_environment, storage_environment
from kiln.services.training.channels import (
    TRAIN_CHANNEL,
    ChannelObject,
    channel_failure,
    manifest_objects,
    prefix_objects,
    shard,
)
from kiln.services.training.checkpoints import CheckpointSync
from kiln.services.training.job_envs import python_for
from kiln.services.training.job_files import read_text
from kiln.services.training.job_logs import JobLog, MetricSink
from kiln.services.training.kept_workspaces import KeptWorkspace, keep
from kiln.services.training.node_staging import (
    channel_fetches,
    distribution_environment,
    host_plan,
    merge_host_archives,
)
from kiln.services.training.service import (
    capacity_note,
    entry_program,
    instance_size,
    job_output_uri,
    parse_spec,
    submit_directory,
)
from kiln.services.training.states import transition
from kiln.services.volumes import (
    DEFAULT_TRAINING_VOLUME_GB,
    VolumeBudget,
    VolumeWatch,
    disk_usage,
    in_gib,
    outgrown_reason,
    training_volume_reason,
    volume_bytes,
)
from kiln.shapes.training import Channel, S3DataSource, TrainingJobSpec
from kiln.storage import ObjectNotFoundError, ObjectStore, S3Uri

log = logging.getLogger(__name__)

_CHECKPOINT_SYNC_SECONDS = 2.0
_FAILURE_REASON_LIMIT = 1024
_JOB_VENV = ".venv"

# A completed job's name and its channels' folders (one per host), before they are removed.
CompletedHook = Callable[[str, dict[str, list[Path]]], None]


class JobFailure(Exception):
    """The job cannot go on; the message becomes its FailureReason."""


class Ending(Enum):
    """Why the job's processes ended."""

    EXITED = "exited"
    STOPPED = "stopped"
    MAX_RUNTIME = "max_runtime"
    INTERRUPTED = "interrupted"


@dataclass
class _Host:
    name: str
    layout: Layout
    process: ProcessHandle | None = None
    exit_code: int | None = None


class TrainingRunner:
    """Drives one job; ``run`` is the thread's body."""

    def __init__(
        self,
        settings: Settings,
        store: TrainingJobStore,
        objects: ObjectStore,
        backend: Backend,
        record: TrainingJobRecord,
        logs: LogStore,
        *,
        credentials: ProcessCredentials,
        on_metric: MetricSink | None = None,
        on_completed: CompletedHook | None = None,
    ) -> None:
        self.name = record.name
        self._on_completed = on_completed
        self._settings = settings
        self._store = store
        self._objects = objects
        self._backend = backend
        self._record = record
        self._spec: TrainingJobSpec = parse_spec(record.spec)
        self._stop = threading.Event()
        self._wakeup = threading.Event()
        self._interrupt = threading.Event()
        self._root = settings.workspaces_dir / record.name
        count = self._spec.resource_config.instance_count
        self._hosts = [
            _Host(f"algo-{i}", Layout(self._root / f"algo-{i}")) for i in range(1, count + 1)
        ]
        self._log = JobLog(
            logs,
            record.name,
            self._spec.algorithm_specification.metric_definitions,
            started=int(time.time()),
            on_metric=on_metric,
        )
        self._checkpoints: list[CheckpointSync] = []
        self._python = Path(sys.executable)
        # Hosts that stage their own files (a cluster's nodes) get a plan instead of a workspace.
        self._on_nodes = backend.stages_remotely
        self._addresses: list[str] = []
        self._limit_failure: str | None = None
        self._credentials = credentials
        self._keys: ProcessKeys | None = None
        # True from the moment the workspace holds a trained model (and output data) until the
        # store has them: a failure in between keeps the workspace.
        self._holds_only_model = False
        self._kept: KeptWorkspace | None = None

    def request_stop(self) -> None:
        """Stop the job (StopTrainingJob): SIGTERM, grace, SIGKILL."""
        self._stop.set()
        self._wakeup.set()

    def interrupt(self) -> None:
        """The server is shutting down: end the processes, leave the job for the restart rule."""
        self._interrupt.set()
        self._stop.set()
        self._wakeup.set()

    def run(self) -> None:
        """Run the job to its end and record what happened."""
        try:
            self._begin()
            self._prepare()
            ending = self._train()
            self._finish(ending)
        except JobFailure as e:
            self._fail(str(e))
        except Exception as e:
            log.exception("training job %s: internal error", self.name)
            self._fail(f"InternalServerError: {_internal_reason(e)}")
        finally:
            self._revoke_keys()
            self._log.close()
            self._hand_over()
            if self._kept is None:
                shutil.rmtree(self._root, ignore_errors=True)

    def _hand_over(self) -> None:
        """Show a completed job's channel folders to ``on_completed`` before they go; what it
        does is never the job's failure."""
        if self._on_completed is None or self._record.status != "Completed":
            return
        try:
            self._on_completed(self.name, self._channel_folders())
        except Exception:
            log.exception("training job %s: handing its channels over failed", self.name)

    def _channel_folders(self) -> dict[str, list[Path]]:
        """Each channel's folder per host; on nodes, where the channels stayed, the ``train``
        channel fetched here whole (the one a baseline reads)."""
        if not self._on_nodes:
            return {
                c.channel_name: [h.layout.channel_dir(c.channel_name) for h in self._hosts]
                for c in self._spec.input_data_config
            }
        for channel in channel_fetches(self._spec, 0, 1):  # one host: every object
            if channel.name == TRAIN_CHANNEL:
                folder = self._root / "fetched" / channel.name
                fetch_channel(self._objects, channel, folder)
                return {channel.name: [folder]}
        return {}

    # -- phases ------------------------------------------------------------------------------

    def _begin(self) -> None:
        note = capacity_note(self._settings, self._spec)
        if note is not None:
            self._log.note(str(note))

        def mark(record: TrainingJobRecord) -> None:
            record.state.setdefault("TrainingStartTime", time.time())
            record.state.setdefault("kiln", {})["launched"] = True
            transition(record, "Downloading")

        self._update(mark)

    def _prepare(self) -> None:
        shutil.rmtree(self._root, ignore_errors=True)
        if self._on_nodes:
            for host in self._hosts:  # empty here: a backend's mount point, not the node's files
                host.layout.base.mkdir(parents=True)
            self._python = Path(PYTHON)  # each node builds the environment itself
            return
        for host in self._hosts:
            host.layout.create()
        self._download_channels()
        self._restore_checkpoints()
        if self._spec.algorithm_specification.container_entrypoint is None:
            self._unpack_source()
        self._choose_python()
        if self._spec.algorithm_specification.container_entrypoint is not None:
            self._make_writable_envs()
        for host in self._hosts:
            write_config(host.layout, self._context(host))

    def _train(self) -> Ending:
        if self._stop.is_set():
            return Ending.INTERRUPTED if self._interrupt.is_set() else Ending.STOPPED
        self._update(lambda r: transition(r, "Training"))
        self._issue_keys()
        self._start_hosts()
        pumps: list[threading.Thread] = []
        for host in self._hosts:
            assert host.process is not None  # started above
            pumps.append(self._log.pump(host.process.lines(Stream.STDOUT), host.name))
            pumps.append(self._log.pump(host.process.lines(Stream.STDERR), host.name, True))
        refs = [h.process.ref for h in self._hosts if h.process is not None]
        self._update(lambda r: r.state["kiln"].update(refs=refs))
        ending = self._watch()
        for pump in pumps:
            pump.join(timeout=10)
        for host in self._hosts:
            if host.process is not None:
                host.process.release()
        return ending

    def _start_hosts(self) -> None:
        """Place the hosts together and start each; all or none (a cluster without room for
        them all fails the job with SageMaker's CapacityError, naming what is missing)."""
        size = self._host_size()
        try:
            self._addresses = self._backend.place(
                self.name, len(self._hosts), size.vcpus, size.memory_mib, size.gpus
            )
            for host in self._hosts:
                host.process = self._backend.start(self._process_spec(host))
        except (ResourceLimitError, ServiceUnavailableError) as e:
            for host in self._hosts:
                if host.process is not None:
                    host.process.stop(0)
                    host.process.release()
                    host.process = None
            raise JobFailure(f"CapacityError: {e}") from e

    def _finish(self, ending: Ending) -> None:
        self._sync_checkpoints()
        self._record_metrics()
        if ending is Ending.INTERRUPTED:
            self._update(
                lambda r: transition(r, "Interrupted", "Kiln server shut down while the job ran")
            )
            return
        if ending is Ending.EXITED and any(h.exit_code for h in self._hosts):
            raise JobFailure(self._failure_reason())
        has_model = self._on_nodes or any(any(h.layout.model_dir.iterdir()) for h in self._hosts)
        if ending is Ending.EXITED or has_model:
            self._holds_only_model = True
            self._update(lambda r: transition(r, "Uploading"))
            self._upload_artifacts(stopped_early=ending is not Ending.EXITED)
            self._holds_only_model = False
        if ending is Ending.EXITED:
            self._end("Completed")
        else:
            self._end("Stopped" if ending is Ending.STOPPED else "MaxRuntimeExceeded")

    # -- downloading ---------------------------------------------------------------------------

    def _download_channels(self) -> None:
        budget = VolumeBudget(self._volume_bytes(), [h.name for h in self._hosts])
        for channel in self._spec.input_data_config:
            assert channel.data_source.s3_data_source is not None  # checked at create
            source = channel.data_source.s3_data_source
            name = channel.channel_name
            try:
                bucket, objects, sizes = self._channel_objects(source)
                if not objects:
                    raise JobFailure(
                        f'ClientError: No S3 objects found under S3 URL "{source.s3_uri}" given '
                        f"in input data source for channel {name!r}. Please ensure that the "
                        "bucket exists and that objects exist under that S3 prefix."
                    )
                self._log.note(f"channel {name}: {len(objects)} file(s) from {source.s3_uri}")
                download = _Download(name, bucket, sizes, budget)
                if source.s3_data_distribution_type == "ShardedByS3Key":
                    self._download_shards(download, objects)
                else:
                    self._download_replicated(download, objects)
            except (ValidationError, ObjectNotFoundError) as e:
                raise JobFailure(channel_failure(name, e)) from e

    def _channel_objects(
        self, source: S3DataSource
    ) -> tuple[str, list[ChannelObject], dict[str, int]]:
        """The channel's bucket, objects, and the sizes of those a listing gave."""
        uri = S3Uri.parse(source.s3_uri)
        if source.s3_data_type == "ManifestFile":
            manifest = self._root / "manifest.json"
            self._objects.download_file(uri, manifest)
            bucket, objects = manifest_objects(manifest.read_bytes(), str(uri))
            return bucket, objects, {}
        sizes = dict(self._objects.keys(uri))
        return uri.bucket, prefix_objects(uri.key, sizes), sizes

    def _download(
        self, download: _Download, objects: list[ChannelObject], hosts: list[_Host]
    ) -> None:
        """Download into the first host's channel folder, charging ``hosts``' volumes: an
        object is refused before it is fetched when its listed size does not fit, and the
        fetched bytes count as they are."""
        folder = hosts[0].layout.channel_dir(download.channel)
        folder.mkdir(parents=True, exist_ok=True)
        names = [h.name for h in hosts]
        for item in objects:
            if not download.budget.fits(names, download.sizes.get(item.key, 0)):
                raise JobFailure(download.over_volume(self._volume_gb()))
            target = folder / item.path
            self._objects.download_file(S3Uri(download.bucket, item.key), target)
            download.budget.charge(names, target.stat().st_blocks * 512)
        if not download.budget.fits(names, 0):  # objects without a listed size
            raise JobFailure(download.over_volume(self._volume_gb()))

    def _download_replicated(self, download: _Download, objects: list[ChannelObject]) -> None:
        self._download(download, objects, self._hosts)
        first = self._hosts[0].layout.channel_dir(download.channel)
        for host in self._hosts[1:]:
            shutil.copytree(
                first,
                host.layout.channel_dir(download.channel),
                copy_function=_link_or_copy,
                dirs_exist_ok=True,
            )

    def _download_shards(self, download: _Download, objects: list[ChannelObject]) -> None:
        name = download.channel
        for index, host in enumerate(self._hosts):
            mine = shard(objects, index, len(self._hosts))
            self._download(download, mine, [host])
            if len(self._hosts) > 1:
                self._log.note(f"channel {name}: {host.name} gets {len(mine)} file(s) (sharded)")

    def _volume_gb(self) -> int:
        return self._spec.resource_config.volume_size_in_gb or DEFAULT_TRAINING_VOLUME_GB

    def _volume_bytes(self) -> int:
        """What each host may keep in its workspace: VolumeSizeInGB."""
        return volume_bytes(self._volume_gb(), DEFAULT_TRAINING_VOLUME_GB)

    def _restore_checkpoints(self) -> None:
        config = self._spec.checkpoint_config
        if config is None:
            return
        relative = Path(config.local_path).relative_to("/opt/ml")
        for host in self._hosts:
            folder = host.layout.base / relative
            folder.mkdir(parents=True, exist_ok=True)
            sync = CheckpointSync(self._objects, S3Uri.parse(config.s3_uri), folder)
            restored = sync.restore()
            if restored:
                self._log.note(
                    f"{host.name}: restored {restored} checkpoint file(s) from {config.s3_uri}"
                )
            self._checkpoints.append(sync)

    def _unpack_source(self) -> None:
        uri = submit_directory(self._spec)
        archive = self._root / "sourcedir.tar.gz"
        try:
            self._objects.download_file(uri, archive)
        except ObjectNotFoundError:
            raise JobFailure(
                f'ClientError: source archive "{uri}" (sagemaker_submit_directory) not found'
            ) from None
        if archive.stat().st_size > self._volume_bytes():
            raise JobFailure(training_volume_reason(f"{uri} holds", self._volume_gb()))
        try:
            for host in self._hosts:
                room = self._volume_bytes() - disk_usage(host.layout.base)
                safe_extract(archive, host.layout.code_dir, max(0, room))
        except ArchiveTooLargeError:
            reason = training_volume_reason(f"{uri} expands to", self._volume_gb())
            raise JobFailure(reason) from None
        except UnsafeArchiveError as e:
            raise JobFailure(f"ClientError: {uri}: {e}") from e

    def _choose_python(self) -> None:
        """The image's environment, with the code's ``requirements.txt`` over it."""
        code_dir = self._hosts[0].layout.code_dir
        image = self._spec.algorithm_specification.training_image
        try:
            self._python = python_for(image, code_dir, self._settings.envs_dir, self._log.note)
        except EnvironmentBuildError as e:
            raise JobFailure(f"InstallRequirementsError: {e}") from e

    def _make_writable_envs(self) -> None:
        """Entrypoint jobs install what they need themselves (``pip install``): each host gets a
        virtualenv of its own, in its workspace, layered on the image's packages."""
        started = time.monotonic()
        try:
            for host in self._hosts:
                writable_env(host.layout.base / _JOB_VENV, self._python)
        except EnvironmentBuildError as e:
            raise JobFailure(f"InternalServerError: the job's environment: {e}") from e
        self._log.note(f"writable environment for pip ready in {time.monotonic() - started:.1f} s")

    # -- training ------------------------------------------------------------------------------

    def _context(self, host: _Host) -> TrainingContext:
        channels = {}
        for channel in self._spec.input_data_config:
            channels[channel.channel_name] = self._channel_config(channel)
        size = self._host_size()
        return TrainingContext(
            job_name=self.name,
            hyperparameters=self._spec.hyperparameters,
            input_data_config=channels,
            current_host=host.name,
            hosts=[h.name for h in self._hosts],
            instance_type=self._spec.resource_config.instance_type,
            num_cpus=size.vcpus,
            num_gpus=size.gpus,
        )

    def _channel_config(self, channel: Channel) -> dict[str, str]:
        """The channel's entry in ``inputdataconfig.json`` (CONTRACTS.md §1.3)."""
        source = channel.data_source.s3_data_source
        entry = {
            "TrainingInputMode": channel.input_mode
            or self._spec.algorithm_specification.training_input_mode,
            "S3DistributionType": source.s3_data_distribution_type if source else "FullyReplicated",
            "RecordWrapperType": channel.record_wrapper_type or "None",
        }
        if channel.content_type:
            entry["ContentType"] = channel.content_type
        if channel.compression_type:
            entry["CompressionType"] = channel.compression_type
        return entry

    def _host_size(self) -> Demand:
        """What one host runs on: its instance type's sizes, cut to this machine's."""
        size = instance_size(self._settings, self._spec.resource_config.instance_type)
        return clamp(demand_of(size), machine_capacity(self._settings))

    def _process_spec(self, host: _Host) -> ProcessSpec:
        seen = Layout(self._backend.container_path(host.layout.base))
        context = self._context(host)
        size = self._host_size()
        rank = self._hosts.index(host)
        argv, cwd = self._argv(), seen.code_dir
        env = {
            **self._environment(seen, context),
            **distribution_environment(self.name, self._addresses, rank),
        }
        if self._on_nodes:
            env[PLAN_VARIABLE] = self._host_plan(host, argv, context).dump()
            argv, cwd = [sys.executable, "-m", "kiln.runtime.host_agent"], seen.base
        return ProcessSpec(
            name=f"{self.name}-{host.name}",
            argv=argv,
            env=env,
            workspace=host.layout.base,
            cwd=cwd,
            vcpus=size.vcpus,
            memory_mib=size.memory_mib,
            gpus=size.gpus,
            group=self.name,
            group_size=len(self._hosts),
            read_only_paths=(
                Path(sys.prefix),
                Path(sys.base_prefix),
                self._settings.envs_dir,
            ),
        )

    def _host_plan(self, host: _Host, argv: list[str], context: TrainingContext) -> HostPlan:
        """What ``host``'s node fetches before ``argv`` runs and stores after."""
        uses_code = self._spec.algorithm_specification.container_entrypoint is None
        return host_plan(
            self._spec,
            argv=argv,
            output=self._output_uri(),
            host=host.name,
            host_index=self._hosts.index(host),
            host_count=len(self._hosts),
            config=config_files(context),
            source=submit_directory(self._spec) if uses_code else None,
            volume_gb=self._volume_gb(),
        )

    def _output_uri(self) -> S3Uri:
        return job_output_uri(self._spec.output_data_config.s3_output_path, self.name)

    def _argv(self) -> list[str]:
        algorithm = self._spec.algorithm_specification
        if algorithm.container_entrypoint is not None:
            return [*algorithm.container_entrypoint, *(algorithm.container_arguments or [])]
        program = entry_program(self._spec) or ""
        user, _framework = split_hyperparameters(self._spec.hyperparameters)
        if program.endswith(".py"):
            return [str(self._python), program, *user_args(user)]
        if program.endswith(".sh"):
            return ["/bin/sh", program, *user_args(user)]
        return [f"./{program}", *user_args(user)]

    def _environment(self, seen: Layout, context: TrainingContext) -> dict[str, str]:
        python = Path(sys.executable) if self._on_nodes else self._python
        if (
            self._spec.algorithm_specification.container_entrypoint is not None
            and not self._on_nodes
        ):
            python = seen.base / _JOB_VENV / "bin" / "python"
        return {
            **base_environment(python, sandboxed=self._backend.is_sandboxed),
            **training_environment(seen, context),
            **self._spec.environment,
            "TRAINING_JOB_NAME": self.name,
            "TRAINING_JOB_ARN": self._record.arn,
            **storage_environment(self._settings),
            **key_environment(self._keys),
        }

    def _issue_keys(self) -> None:
        """The job's own keys: a session of its RoleArn, for its processes' AWS calls."""
        self._keys = self._credentials.for_job(
            self.name,
            self._spec.role_arn,
            self._spec.stopping_condition.max_runtime_in_seconds,
        )

    def _revoke_keys(self) -> None:
        """Every ending (completed, failed, stopped, interrupted) revokes the job's keys."""
        self._credentials.revoke(self._keys)
        self._keys = None

    def _watch(self) -> Ending:
        for host in self._hosts:
            threading.Thread(target=self._await_exit, args=(host,), daemon=True).start()
        deadline = time.monotonic() + self._spec.stopping_condition.max_runtime_in_seconds
        next_sync = time.monotonic() + _CHECKPOINT_SYNC_SECONDS
        # A node's workspace is not here: its host agent measures it.
        volume = VolumeWatch(0 if self._on_nodes else self._volume_bytes())
        while True:
            for host in self._hosts:
                if host.exit_code is None and host.process is not None:
                    host.exit_code = host.process.poll()
            if all(h.exit_code is not None for h in self._hosts):
                return Ending.EXITED
            if any(h.exit_code for h in self._hosts):
                # One host failed: SageMaker fails the job and stops the others.
                self._terminate(self._settings.stop_grace_seconds)
                return Ending.EXITED
            self._wakeup.wait(max(0.0, min(deadline, next_sync) - time.monotonic()))
            self._wakeup.clear()
            if self._stop.is_set():
                grace = self._settings.stop_grace_seconds
                if self._interrupt.is_set():
                    grace = min(grace, 10.0)
                self._terminate(grace)
                return Ending.INTERRUPTED if self._interrupt.is_set() else Ending.STOPPED
            if time.monotonic() > deadline:
                self._log.note("MaxRuntimeInSeconds reached: stopping the job")
                self._terminate(self._settings.stop_grace_seconds)
                return Ending.MAX_RUNTIME
            if time.monotonic() > next_sync:
                self._sync_checkpoints()
                next_sync = time.monotonic() + _CHECKPOINT_SYNC_SECONDS
            if self._is_over_volume(volume):
                return Ending.EXITED

    def _is_over_volume(self, volume: VolumeWatch) -> bool:
        """Whether a host's workspace outgrew VolumeSizeInGB; if so its processes are killed
        (SageMaker's volume would be full) and the job is to fail with the reason."""
        outgrown = volume.outgrown({host.name: host.layout.base for host in self._hosts})
        if outgrown is None:
            return False
        host, used = outgrown
        self._limit_failure = outgrown_reason(in_gib(used), host, self._volume_gb())
        self._log.note(f"volume full: {self._limit_failure}")
        self._terminate(0.0)
        for each in self._hosts:  # failed, whatever the killed processes returned
            each.exit_code = each.exit_code or 1
        return True

    def _await_exit(self, host: _Host) -> None:
        """Wake the watch loop the moment a host's process exits."""
        assert host.process is not None
        host.process.wait()
        self._wakeup.set()

    def _terminate(self, grace: float) -> None:
        running = [h for h in self._hosts if h.process is not None and h.exit_code is None]
        threads = [threading.Thread(target=self._terminate_host, args=(h, grace)) for h in running]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    @staticmethod
    def _terminate_host(host: _Host, grace: float) -> None:
        assert host.process is not None
        host.exit_code = host.process.stop(grace)

    def _sync_checkpoints(self) -> None:
        for sync in self._checkpoints:
            try:
                sync.sync()
            except Exception as e:  # a failed sync must not kill the job; the next round retries
                self._log.note(f"checkpoint sync failed: {e}")

    # -- uploading and endings -------------------------------------------------------------------

    def _upload_artifacts(self, stopped_early: bool) -> None:
        if self._on_nodes:
            self._merge_host_artifacts(stopped_early)
            return
        output = self._output_uri()
        model_uri = output.join("model.tar.gz")
        merged = self._merged("model", lambda layout: layout.model_dir)
        archive = self._root / "model.tar.gz"
        try:
            pack(merged, archive)
            self._objects.upload_file(archive, model_uri)
        except Exception as e:  # the store retried what was transient: this one is final
            log.warning("training job %s: storing the model failed", self.name, exc_info=True)
            raise JobFailure(
                f"InternalServerError: storing the model at {model_uri} failed: "
                f"{_internal_reason(e)}"
            ) from e
        self._log.note(f"model artifacts: {model_uri}")
        self._update(lambda r: r.state.update(ModelArtifacts={"S3ModelArtifacts": str(model_uri)}))
        data = self._merged("output-data", lambda layout: layout.output_data_dir)
        if any(data.iterdir()):
            pack(data, self._root / "output.tar.gz")
            self._objects.upload_file(self._root / "output.tar.gz", output.join("output.tar.gz"))

    def _merge_host_artifacts(self, stopped_early: bool) -> None:
        """The hosts stored their model and output archives: one of each for the job. A job
        stopped before any host stored one has no model, as one stopped locally with an empty
        model folder."""
        output, names = self._output_uri(), [h.name for h in self._hosts]
        try:
            model_uri = merge_host_archives(
                self._objects, output, names, "model.tar.gz", self._root
            )
            merge_host_archives(self._objects, output, names, "output.tar.gz", self._root)
        except Exception as e:
            raise JobFailure(
                f"InternalServerError: storing the model failed: {_internal_reason(e)}"
            ) from e
        if model_uri is None and stopped_early:
            self._log.note("no host stored a model before the job was stopped")
            return
        if model_uri is None:
            raise JobFailure("InternalServerError: no host stored its model (see the job's log)")
        self._log.note(f"model artifacts: {model_uri}")
        self._update(lambda r: r.state.update(ModelArtifacts={"S3ModelArtifacts": str(model_uri)}))

    def _merged(self, name: str, folder: Callable[[Layout], Path]) -> Path:
        if len(self._hosts) == 1:
            return folder(self._hosts[0].layout)
        merged = self._root / f"merged-{name}"
        for host in self._hosts:  # later hosts overwrite earlier ones, as SageMaker merges
            shutil.copytree(folder(host.layout), merged, symlinks=True, dirs_exist_ok=True)
        return merged

    def _failure_reason(self) -> str:
        if self._limit_failure is not None:
            return self._limit_failure[:_FAILURE_REASON_LIMIT]
        failed = next(h for h in self._hosts if h.exit_code)
        from_node = self._node_failure(failed)
        if from_node is not None:
            return from_node[:_FAILURE_REASON_LIMIT]
        for host in [failed, *self._hosts]:
            # The job wrote it: read without following its links (job_files.py).
            text = read_text(host.layout.base, host.layout.failure_file, _FAILURE_REASON_LIMIT)
            if text:
                return text
        exit_reason = self._exit_reason(failed)
        if any(h.process is not None and h.process.was_oom_killed() for h in self._hosts):
            size = instance_size(self._settings, self._spec.resource_config.instance_type)
            oom = out_of_memory_reason(
                "the job",
                self._spec.resource_config.instance_type,
                size.memory_mib,
                self._host_size().memory_mib,
            )
            exit_reason = exit_reason.replace("AlgorithmError: ", f"AlgorithmError: {oom}\n", 1)
        return exit_reason[:_FAILURE_REASON_LIMIT]

    def _node_failure(self, failed: _Host) -> str | None:
        """What the host agent said of a failure: its staging's, or the script's failure file;
        None where the host staged nothing itself. A lost node is named."""
        if failed.process is not None and (lost := failed.process.lost_reason()) is not None:
            return f"InternalServerError: {lost}"
        if not self._on_nodes:
            return None
        for line in reversed(self._log.stderr_tail(failed.name).splitlines()):
            if line.startswith(FAILED_PREFIX):
                return line[len(FAILED_PREFIX) :].replace("\\n", "\n")
            if line.startswith(FAILURE_PREFIX):
                return line[len(FAILURE_PREFIX) :].replace("\\n", "\n")
        return None

    def _exit_reason(self, failed: _Host) -> str:
        """The exit code, its signal and the tail of stderr, as the toolkit reports them."""
        code = failed.exit_code or 1
        code_text = str(code)
        # Negative: the signal itself; 129-159: a shell's or bwrap's 128 + signal number.
        signum = -code if code < 0 else code - 128 if 128 < code < 160 else None
        if signum is not None:
            code_text += f" (killed by {signal.Signals(signum).name})"
        tail = self._log.stderr_tail(failed.name)[-600:]
        command = " ".join(self._argv())
        return (
            "AlgorithmError: ExecuteUserScriptError:\n"
            f'ExitCode {code_text}\nErrorMessage "{tail}"\n'
            f'Command "{command}", exit code: {code}'
        )

    def _record_metrics(self) -> None:
        metrics = [
            {"MetricName": name, "Value": value, "Timestamp": at}
            for name, (value, at) in sorted(self._log.final_metrics.items())
        ]
        if metrics:
            self._update(lambda r: r.state.update(FinalMetricDataList=metrics))

    def _fail(self, reason: str) -> None:
        """End as Failed; a model not yet stored is kept, and the reason says where."""
        if self._holds_only_model:
            self._kept = keep(self._root, self._settings.failed_upload_keep_hours)
            note = self._kept.note()
            reason = f"{reason[: _FAILURE_REASON_LIMIT - len(note) - 1]} {note}"
        self._end("Failed", reason[:_FAILURE_REASON_LIMIT])

    def _end(self, secondary: str, failure_reason: str | None = None) -> None:
        kept = self._kept

        def end(record: TrainingJobRecord) -> None:
            if failure_reason:
                record.state["FailureReason"] = failure_reason
            if kept is not None:
                kept.record_in(record.state)
            transition(record, secondary, failure_reason and "Training job failed")
            start = record.state.get("TrainingStartTime", record.creation_time)
            assert record.end_time is not None
            record.state["TrainingEndTime"] = record.end_time
            seconds = max(1, int(record.end_time - start))
            record.state["TrainingTimeInSeconds"] = seconds
            record.state["BillableTimeInSeconds"] = seconds

        # The note goes first: a log reader that stops at the final status must see it.
        self._log.note(
            f"job {secondary.lower()}" + (f": {failure_reason}" if failure_reason else "")
        )
        self._update_until_written(end)

    def _update_until_written(self, change: Callable[[TrainingJobRecord], Any]) -> None:
        """``_update``, made again with backoff while the database cannot take it (a full
        disk); only a server shutdown ends the wait, and then the restart rule ends the job."""
        delays = backoff(first=0.5, cap=5.0)
        while True:
            try:
                self._update(change)
                return
            except Exception as e:
                if unavailable_error(e) is None:
                    raise
                if self._kept is None:
                    # Nothing here to keep: give the disk back, since the job may be what
                    # filled it, and its end cannot be written until there is room.
                    shutil.rmtree(self._root, ignore_errors=True)
                delay = next(delays)
                log.warning(
                    "training job %s: recording its end failed (%s); trying again in %.1f s",
                    self.name,
                    e,
                    delay,
                )
                if self._interrupt.wait(delay):
                    log.error(
                        "training job %s: shutting down before its end was recorded", self.name
                    )
                    return

    def _update(self, change: Callable[[TrainingJobRecord], Any]) -> None:
        record = self._store.modify(self.name, change)
        if record is not None:
            self._record = record


def _internal_reason(error: Exception) -> str:
    """What FailureReason says of an error that is Kiln's, not the script's."""
    unavailable = unavailable_error(error)
    if unavailable is not None:
        return unavailable.message
    return f"{type(error).__name__}: {error}"


def _link_or_copy(source: str, dest: str) -> None:
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


@dataclass(frozen=True)
class _Download:
    """One channel being downloaded: where from, the listed sizes, the volumes it fills."""

    channel: str
    bucket: str
    sizes: dict[str, int]
    budget: VolumeBudget

    def over_volume(self, gb: int) -> str:
        """The FailureReason when the channel does not fit."""
        return training_volume_reason(f"channel {self.channel!r} holds", gb)
