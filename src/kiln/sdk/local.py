"""Local mode: ``deploy(instance_type="local")`` runs one model replica as a child process.

No Kiln server and no Docker: the SDK prepares the folders a replica sees, starts ::

    python -m kiln.runtime.model_server --model-dir DIR [--code-dir DIR --entry-point F] --port 0

in its own process group, reads its stdout until the ``{"kiln_phase": "listening", "port": N}``
line, and returns a :class:`LocalPredictor` that POSTs to ``http://127.0.0.1:N/invocations``
over one keep-alive connection. The replica's other output is copied to this process's stderr;
if it exits before listening, its ``kiln-replica: failed: …`` line is the error.

What it serves: ``model_data`` (``s3://`` fetched through the session's store; a local path or
``file://`` URI; a ``.tar.gz`` is extracted, a folder used in place) and the code of
``source_dir`` (a local folder used in place, or an ``s3://`` ``sourcedir.tar.gz``) or of a lone
``entry_point`` file; without either, the archive's ``code/`` folder, else framework defaults.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from kiln.errors import ValidationError
from kiln.runtime.archives import UnsafeArchiveError
from kiln.sdk.errors import ModelError, ReplicaExitedError
from kiln.sdk.predictor import Predictor
from kiln.sdk.serializers import Deserializer, Readable, Serializer
from kiln.storage import ObjectStore, S3Uri, terminate

LOCAL_INSTANCE_TYPES = ("local", "local_gpu")
# As long as a Kiln server gives a replica to pass its first ping (KILN_REPLICA_STARTUP_...).
STARTUP_TIMEOUT_SECONDS = 300.0
# SageMaker answers an invocation within 60 s; SDK v2's runtime client reads for 80.
_READ_TIMEOUT_SECONDS = 80.0
# SageMaker gives a container 30 s between SIGTERM and SIGKILL; local debugging needs less.
_STOP_GRACE_SECONDS = 10.0
_FAILED_PREFIX = "kiln-replica: failed: "
_STALE_CONNECTION = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError)


@dataclass(frozen=True)
class ReplicaFiles:
    """What a local replica serves: its model folder and, if any, its code."""

    model_dir: Path
    code_dir: Path | None = None
    entry_point: str | None = None


def prepare_files(
    model_data: str,
    entry_point: str | None,
    source_dir: str | None,
    workdir: Path,
    store: Callable[[], ObjectStore],
) -> ReplicaFiles:
    """Fetch and unpack what a replica serves into ``workdir``; ``store`` is called if needed."""
    model_dir = _unpacked(_local_path(model_data, workdir, store, "model.tar.gz"), workdir)
    if source_dir is not None:
        code_dir = _unpacked(_local_path(source_dir, workdir, store, "sourcedir.tar.gz"), workdir)
        if entry_point is not None and not (code_dir / entry_point).is_file():
            raise ValidationError(f"No file named {entry_point!r} was found in {source_dir!r}")
        return ReplicaFiles(model_dir, code_dir, entry_point)
    if entry_point is not None:
        script = Path(entry_point)
        if not script.is_file():
            raise ValidationError(f"entry_point {entry_point!r} is not a file")
        code_dir = workdir / "code"
        code_dir.mkdir()
        shutil.copy2(script, code_dir / script.name)
        return ReplicaFiles(model_dir, code_dir, script.name)
    return ReplicaFiles(model_dir)


def _unpacked(path: str, workdir: Path) -> Path:
    """A folder as it is, or a tarball extracted under ``workdir``; ValidationError if neither."""
    # Here, not at the top: the model server's module loads uvicorn, which only local mode needs.
    from kiln.runtime.model_server import prepare_model_dir

    try:
        return prepare_model_dir(path, workdir)
    except (FileNotFoundError, UnsafeArchiveError) as e:
        raise ValidationError(str(e)) from e


def _local_path(uri: str, workdir: Path, store: Callable[[], ObjectStore], name: str) -> str:
    """A local path for ``uri``: an ``s3://`` object is downloaded into ``workdir`` first."""
    if uri.startswith("file://"):
        return uri[len("file://") :]
    if not uri.startswith("s3://"):
        return uri
    target = Path(tempfile.mkdtemp(prefix="fetch-", dir=workdir)) / name
    store().download_file(S3Uri.parse(uri), target)
    return str(target)


def start_replica(
    files: ReplicaFiles,
    env: Mapping[str, str],
    workdir: Path,
    timeout: float = STARTUP_TIMEOUT_SECONDS,
) -> LocalReplica:
    """Start the model server on a free loopback port; wait until it listens."""
    argv = [sys.executable, "-m", "kiln.runtime.model_server", "--model-dir", str(files.model_dir)]
    if files.code_dir is not None:
        argv += ["--code-dir", str(files.code_dir)]
    if files.entry_point is not None:
        argv += ["--entry-point", files.entry_point]
    process = subprocess.Popen(
        [*argv, "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **env},
        cwd=workdir,
        start_new_session=True,
    )
    replica = LocalReplica(process, workdir)
    try:
        replica.wait_until_listening(timeout)
    except BaseException:
        replica.stop()
        raise
    return replica


class LocalReplica:
    """One model server process and the threads that read its output."""

    def __init__(self, process: subprocess.Popen[bytes], workdir: Path) -> None:
        self.process = process
        self.workdir = workdir
        self.port: int | None = None
        self._echo = sys.stderr
        self._stderr: deque[str] = deque(maxlen=30)
        self._settled = threading.Event()  # listening, or stdout closed
        self._pumps = [
            threading.Thread(target=self._pump, args=(stream, is_err), daemon=True)
            for stream, is_err in ((process.stdout, False), (process.stderr, True))
        ]
        for pump in self._pumps:
            pump.start()

    def wait_until_listening(self, timeout: float) -> None:
        """Return once the replica listens; ReplicaExitedError if it exits or takes too long."""
        if not self._settled.wait(timeout):
            raise TimeoutError(f"The local replica did not listen within {timeout:.0f} s")
        if self.port is None:
            code = self.process.wait()
            self._join()
            raise ReplicaExitedError(self.failure(code), code)

    def failure(self, code: int | None) -> str:
        """Why the replica ended: its ``kiln-replica: failed`` line, or its last stderr lines."""
        summary = next((x for x in reversed(self._stderr) if x.startswith(_FAILED_PREFIX)), None)
        if summary is not None:
            return f"The local replica failed to start: {summary[len(_FAILED_PREFIX) :]}"
        tail = " | ".join(list(self._stderr)[-3:])
        return f"The local replica exited with code {code}: {tail or 'no output'}"

    def stop(self) -> None:
        """SIGTERM the replica's process group (SIGKILL after a grace), reap, remove its files."""
        terminate(self.process, grace=_STOP_GRACE_SECONDS)
        self._join()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _join(self) -> None:
        for pump in self._pumps:
            pump.join(timeout=5)

    def _pump(self, stream: IO[bytes], is_stderr: bool) -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            if is_stderr:
                self._stderr.append(line)
            elif line.startswith('{"kiln_phase"') and self._phase(line):
                continue
            self._write(line)
        stream.close()
        if not is_stderr:
            self._settled.set()

    def _phase(self, line: str) -> bool:
        """Note a phase line; whether it was one."""
        try:
            event = json.loads(line)
        except ValueError:
            return False
        if event.get("kiln_phase") == "listening" and isinstance(event.get("port"), int):
            self.port = event["port"]
            self._settled.set()
        return True

    def _write(self, line: str) -> None:
        try:
            self._echo.write(f"{line}\n")
            self._echo.flush()
        except (ValueError, OSError):
            pass  # our stderr was closed (a test's capture ended): the line has nowhere to go


class LocalPredictor(Predictor):
    """A :class:`Predictor` for a local replica: the same ``predict()`` over plain HTTP."""

    def __init__(
        self,
        endpoint_name: str,
        replica: LocalReplica,
        serializer: Serializer | None = None,
        deserializer: Deserializer | None = None,
    ) -> None:
        super().__init__(endpoint_name, None, serializer, deserializer)
        if replica.port is None:
            raise ValueError("the replica is not listening yet")
        self.replica = replica
        self._connection = http.client.HTTPConnection(
            "127.0.0.1", replica.port, timeout=_READ_TIMEOUT_SECONDS
        )
        self._lock = threading.Lock()
        # A predictor dropped or left at exit must not leave its replica running.
        self._stop = weakref.finalize(self, _shut, replica, self._connection)

    @property
    def url(self) -> str:
        """Where the replica listens: ``POST {url}/invocations``, ``GET {url}/ping``."""
        return f"http://127.0.0.1:{self.replica.port}"

    def delete_endpoint(self, delete_endpoint_config: bool = True) -> None:
        """Stop the replica and remove its files (there is no config to delete)."""
        self._stop()

    def delete_model(self) -> None:
        """Nothing to delete: a local model is never registered anywhere."""

    def _invoke(self, request: dict[str, Any]) -> tuple[Readable, str]:
        variant = request.get("TargetVariant")
        if variant not in (None, "AllTraffic"):
            raise ValidationError(f"A local endpoint has one variant, AllTraffic, not {variant!r}")
        if not self._stop.alive:
            raise ValidationError(f"Local endpoint {self.endpoint_name} was deleted")
        headers = {"Content-Type": request["ContentType"], "Accept": request["Accept"]}
        if request.get("CustomAttributes") is not None:
            headers["X-Amzn-SageMaker-Custom-Attributes"] = request["CustomAttributes"]
        body = request["Body"]
        payload = body.encode() if isinstance(body, str) else body
        status, content_type, answer = self._post(payload, headers)
        if not 200 <= status < 300:
            raise ModelError(self.endpoint_name, status, answer.decode("utf-8", errors="replace"))
        return io.BytesIO(answer), content_type

    def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        with self._lock:
            try:
                return self._exchange(body, headers)
            except _STALE_CONNECTION:
                # The replica closed the idle keep-alive connection: once more on a new one.
                self._check_running()
                return self._exchange(body, headers)
            except ConnectionRefusedError:
                self._check_running()
                raise

    def _exchange(self, body: bytes, headers: dict[str, str]) -> tuple[int, str, bytes]:
        try:
            self._connection.request("POST", "/invocations", body, headers)
            response = self._connection.getresponse()
            answer = response.read()
        except OSError:
            self._connection.close()  # the next request opens a fresh connection
            raise
        content_type = response.getheader("Content-Type", "application/octet-stream")
        return response.status, content_type, answer

    def _check_running(self) -> None:
        code = self.replica.process.poll()
        if code is not None:
            raise ReplicaExitedError(self.replica.failure(code), code)


def _shut(replica: LocalReplica, connection: http.client.HTTPConnection) -> None:
    connection.close()
    replica.stop()
