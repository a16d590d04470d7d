"""The host agent: a job host's staging, done on the node where the job runs, through S3.

    python -m kiln.runtime.host_agent [-- COMMAND...]   (the plan in KILN_HOST_PLAN)

The command is the plan's, or the one after ``--`` (a replica's, whose listening arguments the
backend fills in); an inherited socket it names (``--fd N``) stays open for it.

In the workspace it is started in, it fetches the host's channels (listing and sharding them as
the server would), expands the code, restores checkpoints and writes the config files; then it
runs the command with the output going straight to its own, syncs checkpoints while it runs,
kills it once the workspace outgrew its volume (saying so in the server's words), passes SIGTERM
on, and once the command ended syncs the checkpoints a last time and packs the model and output
folders to S3. It exits with the command's exit code, or with a ``kiln-agent: failed:`` line on
stderr and ``STAGING_FAILED`` when staging failed, 1 when the volume filled.

It reaches S3 with the job's own keys and the store's endpoint, from the job's environment
(``AWS_ENDPOINT_URL_S3``, ``AWS_ACCESS_KEY_ID`` …), as the job's own boto3 calls do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import boto3
from botocore.config import Config

from kiln.compute.base import NODE_ENVS_VARIABLE
from kiln.runtime.archives import ArchiveTooLargeError, UnsafeArchiveError, pack, safe_extract
from kiln.runtime.channel_fetch import StagingError, fetch_channel
from kiln.runtime.host_plan import (
    FAILED_PREFIX,
    FAILURE_PREFIX,
    PLAN_VARIABLE,
    PYTHON,
    STAGING_FAILED,
    HostPlan,
    Unpack,
)
from kiln.runtime.phases import print_phase
from kiln.runtime.workspace import Layout
from kiln.services.training.checkpoints import CheckpointSync
from kiln.services.training.job_envs import python_for
from kiln.services.training.job_files import read_text
from kiln.services.volumes import VolumeWatch, in_gib
from kiln.storage import ObjectNotFoundError, ObjectStore, S3Uri

_FAILURE_LIMIT = 1024


def store_from_environment() -> ObjectStore:
    """An S3 client with the job's keys and endpoint (path-style, as Kiln's own)."""
    client = boto3.session.Session().client(
        "s3",
        config=Config(s3={"addressing_style": "path"}, retries={"mode": "standard"}),
    )
    return ObjectStore(client)


def stage_in(plan: HostPlan, workspace: Path, objects: ObjectStore) -> list[CheckpointSync]:
    """Everything before the command: the ``/opt/ml`` tree, channels, code, checkpoints,
    config files."""
    Layout(workspace).create()
    for channel in plan.channels:
        count = fetch_channel(objects, channel, workspace / "input" / "data" / channel.name)
        _note(f"channel {channel.name}: {count} file(s) from {channel.uri}")
    for item in plan.unpack:
        archive = workspace / ".unpack.tar.gz"
        try:
            started = time.perf_counter()
            objects.download_file(S3Uri.parse(item.uri), archive)
            started = _phase(plan, f"download_{item.folder}", started)
            safe_extract(archive, workspace / item.folder, plan.volume_bytes or None)
            _phase(plan, f"extract_{item.folder}", started)
        except ObjectNotFoundError:
            raise StagingError(f'ClientError: source archive "{item.uri}" not found') from None
        except ArchiveTooLargeError as e:
            raise StagingError(_overfill(plan, item) or f"ClientError: {item.uri}: {e}") from e
        except UnsafeArchiveError as e:
            raise StagingError(f"ClientError: {item.uri}: {e}") from e
        finally:
            archive.unlink(missing_ok=True)
    syncs = []
    if plan.checkpoints is not None:
        sync = CheckpointSync(
            objects, S3Uri.parse(plan.checkpoints.uri), workspace / plan.checkpoints.folder
        )
        (workspace / plan.checkpoints.folder).mkdir(parents=True, exist_ok=True)
        restored = sync.restore()
        if restored:
            _note(f"restored {restored} checkpoint file(s) from {plan.checkpoints.uri}")
        syncs.append(sync)
    for relative, text in plan.files.items():
        path = workspace / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return syncs


def _phase(plan: HostPlan, name: str, started: float) -> float:
    """Print phase ``name``'s line if the plan asks for them; when the next phase starts."""
    return print_phase(name, started) if plan.phases else time.perf_counter()


def _overfill(plan: HostPlan, item: Unpack) -> str:
    """The plan's words for ``item`` expanding past the volume ("" when it has none)."""
    name = item.uri.rsplit("/", 1)[-1]
    return plan.overfill.format(uri=item.uri, name=name, folder=item.folder)


def stage_out(plan: HostPlan, workspace: Path, objects: ObjectStore) -> None:
    """Everything after the command: each folder packed to its object."""
    for item in plan.pack:
        folder = workspace / item.folder
        if not item.always and not (folder.is_dir() and any(folder.iterdir())):
            continue
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=workspace) as scratch:
            archive = Path(scratch) / "packed.tar.gz"
            pack(folder, archive)
            objects.upload_file(archive, S3Uri.parse(item.uri))
        _note(f"stored {item.folder} at {item.uri}")


def choose_python(plan: HostPlan, workspace: Path, argv: list[str]) -> list[str]:
    """``argv``, its :data:`PYTHON` replaced by the environment built on this node."""
    if PYTHON not in argv:
        return argv
    envs = Path(os.environ.get(NODE_ENVS_VARIABLE, Path(tempfile.gettempdir()) / "kiln-envs"))
    started = time.perf_counter()
    python = python_for(plan.image, workspace / plan.code, envs, _note)
    _phase(plan, "environment", started)
    return [str(python) if arg == PYTHON else arg for arg in argv]


def inherited_fds(argv: list[str]) -> tuple[int, ...]:
    """The socket a command is told to listen on (``--fd N``): it must stay open for it."""
    return tuple(int(argv[i + 1]) for i, arg in enumerate(argv[:-1]) if arg == "--fd")


class _StopRequested(Exception):
    """SIGTERM came before the command started: staging ends there."""


class _Outgrown(Exception):
    """The workspace outgrew the volume while the command ran: the FailureReason."""


class _Command:
    """The agent's command and the stop signals the agent got, passed on once it runs."""

    def __init__(self) -> None:
        self.signals: list[int] = []
        self._child: subprocess.Popen[bytes] | None = None
        self._starting = False

    def on_signal(self, signum: int, _frame: object) -> None:
        """Pass a stop on to the command; before it starts, end staging instead."""
        self.signals.append(signum)
        if self._child is not None:
            self._child.send_signal(signum)
        elif not self._starting:
            raise _StopRequested

    def run(
        self,
        argv: list[str],
        cwd: Path,
        syncs: list[CheckpointSync],
        every: float,
        outgrown: Callable[[], str | None],
    ) -> int:
        """Run ``argv`` to its end, syncing checkpoints every ``every`` seconds; its exit code.
        Once ``outgrown`` says why the workspace is too full, it is killed (``_Outgrown``)."""
        self._starting = True  # a signal from here on is kept for the child, not raised
        child = subprocess.Popen(
            argv, cwd=cwd, env=_command_environment(), pass_fds=inherited_fds(argv)
        )
        self._child = child
        if self.signals:  # came while it started
            child.send_signal(self.signals[0])
        while (code := _wait(child, every)) is None:
            _sync(syncs)
            if (reason := outgrown()) is not None:
                child.kill()
                child.wait()
                raise _Outgrown(reason)
        _sync(syncs)
        return code


def _outgrown(plan: HostPlan, volume: VolumeWatch, workspace: Path) -> str | None:
    """The plan's FailureReason once the workspace is measured above the volume, else None."""
    found = volume.outgrown({"": workspace}) if plan.outgrown else None
    return None if found is None else plan.outgrown.format(used=in_gib(found[1]))


def run(plan: HostPlan, workspace: Path, command: list[str] | None = None) -> int:
    """Stage in, run the command (the plan's unless given), stage out; the exit code. A stop
    while staging skips the command and still stores the (empty) model, as SageMaker does."""
    objects = store_from_environment()
    stoppable = _Command()
    signal.signal(signal.SIGTERM, stoppable.on_signal)
    signal.signal(signal.SIGINT, stoppable.on_signal)
    try:
        syncs = stage_in(plan, workspace, objects)
        argv = choose_python(plan, workspace, command or list(plan.argv))
        outgrown = partial(_outgrown, plan, VolumeWatch(plan.volume_bytes), workspace)
        code = stoppable.run(argv, workspace / plan.cwd, syncs, plan.sync_seconds, outgrown)
    except _Outgrown as e:
        _note(f"volume full: {e}")
        return _fail(str(e), 1)
    except _StopRequested:
        signum = stoppable.signals[0]
        _note(f"stopped (signal {signum}) while staging: the command did not run")
        code = -signum
    except Exception as e:
        return _failed(e)
    if code != 0 and not stoppable.signals:
        failure = read_text(workspace, workspace / plan.failure_file, _FAILURE_LIMIT)
        if failure:
            print(FAILURE_PREFIX + failure.replace("\n", "\\n"), file=sys.stderr, flush=True)
        return code
    try:
        stage_out(plan, workspace, objects)
    except Exception as e:
        return _failed(e)
    return code


def _wait(child: subprocess.Popen[bytes], seconds: float) -> int | None:
    try:
        return child.wait(seconds)
    except subprocess.TimeoutExpired:
        return None


def _sync(syncs: list[CheckpointSync]) -> None:
    for sync in syncs:
        try:
            sync.sync()
        except Exception as e:  # the next round retries; a failed sync never fails the job
            _note(f"checkpoint sync failed: {e}")


def _command_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != PLAN_VARIABLE}


def _note(text: str) -> None:
    # The server's own notes carry this prefix too: a log reads the same on every backend.
    print(f"[kiln] {text}", flush=True)


def _failed(error: Exception) -> int:
    reason = str(error) if isinstance(error, StagingError) else f"{type(error).__name__}: {error}"
    return _fail(reason, STAGING_FAILED)


def _fail(reason: str, code: int) -> int:
    """Say ``reason`` as the agent's failure (the server reads it as the FailureReason)."""
    print(FAILED_PREFIX + reason.replace("\n", "\\n"), file=sys.stderr, flush=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Run the plan in ``KILN_HOST_PLAN`` in the current folder (the host's workspace)."""
    args = sys.argv[1:] if argv is None else argv
    command = args[args.index("--") + 1 :] if "--" in args else None
    started = time.monotonic()
    code = run(HostPlan.load(os.environ[PLAN_VARIABLE]), Path.cwd(), command)
    _note(f"done in {time.monotonic() - started:.1f} s, exit code {code}")
    return exit_status(code)


def exit_status(code: int) -> int:
    """The agent's own exit status for its command's ``code``: a shell's 128 + N for a command
    killed by signal N (``sys.exit(-9)`` would read as 247, naming no signal)."""
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main())
