"""Following a training job: its log from Kiln's native log endpoint, and its status changes.

    GET {endpoint}/kiln/v1/training-jobs/{name}/logs?offset=N&follow=true   (kiln.api.logs)

The log is read on a thread while the caller's thread polls ``DescribeTrainingJob`` and prints
each new ``SecondaryStatusTransitions`` entry, the way sagemaker SDK v2's ``logs_for_job`` does.
"""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO
from urllib.parse import quote

from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import (
        DescribeTrainingJobResponseTypeDef,
        SecondaryStatusTransitionTypeDef,
    )

TERMINAL = ("Completed", "Failed", "Stopped")
POLL_SECONDS = 0.5
# A quiet job sends nothing for a while: time out and reconnect from the offset, never hang.
_READ_TIMEOUT_SECONDS = 60.0
_RETRY_SECONDS = 1.0


class LogReader:
    """Copies a job's log to ``write`` line by line, remembering how far it got."""

    def __init__(self, endpoint: str, job_name: str, write: Callable[[str], object]) -> None:
        self._url = f"{endpoint.rstrip('/')}/kiln/v1/training-jobs/{quote(job_name, safe='')}/logs"
        self._write = write
        self.offset = 0

    def read(self, *, follow: bool) -> None:
        """Read from ``offset`` to the end; with ``follow``, until the job has ended."""
        while True:
            try:
                self._read_once(follow)
                return
            except TimeoutError:
                if not follow:
                    raise
                # The job was quiet for a while: ask again from where we are.

    def _read_once(self, follow: bool) -> None:
        url = f"{self._url}?offset={self.offset}&follow={'true' if follow else 'false'}"
        try:
            with urllib.request.urlopen(url, timeout=_READ_TIMEOUT_SECONDS) as response:
                for line in response:
                    self.offset += len(line)
                    self._write(line.decode("utf-8", errors="replace"))
        except urllib.error.HTTPError as e:
            raise client_error(e, "GetTrainingJobLog") from None


class JobFollower:
    """Prints a job's log and status changes to ``out`` until the job ends."""

    def __init__(
        self,
        describe: Callable[[], DescribeTrainingJobResponseTypeDef],
        endpoint: str,
        job_name: str,
        out: TextIO,
    ) -> None:
        self._describe = describe
        self._reader = LogReader(endpoint, job_name, self._write)
        self._out = out
        self._lock = threading.Lock()
        self._ended = threading.Event()
        self._shown_transitions = 0
        self._job_name = job_name

    def follow(self) -> DescribeTrainingJobResponseTypeDef:
        """Stream until the job ends; its final description."""
        pump = threading.Thread(target=self._pump, name=f"kiln-log-{self._job_name}", daemon=True)
        pump.start()
        try:
            job = self._describe()
            while job["TrainingJobStatus"] not in TERMINAL:
                self._show_transitions(job)
                self._ended.wait(POLL_SECONDS)
                job = self._describe()
        finally:
            self._ended.set()
        pump.join()
        # The runner may add a closing line just after the status turned final.
        self._reader.read(follow=False)
        self._show_transitions(job)
        return job

    def _pump(self) -> None:
        while not self._ended.is_set():
            try:
                self._reader.read(follow=True)
                return
            except ClientError:
                return  # the caller's own DescribeTrainingJob reports what is wrong
            except OSError:
                # Connection refused, reset or timed out: resume from the offset.
                self._ended.wait(_RETRY_SECONDS)

    def _show_transitions(self, job: DescribeTrainingJobResponseTypeDef) -> None:
        transitions = job.get("SecondaryStatusTransitions", [])
        for transition in transitions[self._shown_transitions :]:
            self._write(transition_line(transition) + "\n")
        self._shown_transitions = len(transitions)

    def _write(self, text: str) -> None:
        with self._lock:
            self._out.write(text)
            self._out.flush()


def transition_line(transition: SecondaryStatusTransitionTypeDef) -> str:
    """``2024-05-01 12:00:00 Training - Training in progress.``, as sagemaker SDK v2 prints."""
    when = transition["StartTime"].astimezone()
    return (
        f"{when:%Y-%m-%d %H:%M:%S} {transition['Status']} - {transition.get('StatusMessage', '')}"
    )


def client_error(error: urllib.error.HTTPError, operation: str) -> ClientError:
    """A native endpoint's JSON error as the ``ClientError`` boto3 raises for the same answer."""
    try:
        body = json.loads(error.read())
        code, message = str(body["__type"]), str(body["message"])
    except (ValueError, KeyError, TypeError):
        code, message = f"HTTP{error.code}", str(error.reason)
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)
