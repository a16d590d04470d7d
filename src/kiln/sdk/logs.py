"""Following a job's or an endpoint's log through CloudWatch Logs, as the sagemaker SDK does.

    logs:DescribeLogStreams(logGroupName, logStreamNamePrefix)   the streams, as they appear
    logs:GetLogEvents(startFromHead=True, nextToken=f/…)         each stream's new events

Each stream's forward token is kept, so every event is printed once; the server hands back the
same token when a stream has nothing new. A job is followed by polling ``DescribeTrainingJob``
between reads and printing each new ``SecondaryStatusTransitions`` entry, the way sagemaker SDK
v2's ``logs_for_job`` does (but every half second, not every 10–30).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from botocore.exceptions import ClientError

from kiln.services.logs.names import TRAINING_JOBS_GROUP, endpoint_group, host_of

if TYPE_CHECKING:
    from mypy_boto3_logs import CloudWatchLogsClient
    from mypy_boto3_logs.type_defs import (
        DescribeLogStreamsRequestTypeDef,
        GetLogEventsRequestTypeDef,
    )
    from mypy_boto3_sagemaker.type_defs import (
        DescribeTrainingJobResponseTypeDef,
        SecondaryStatusTransitionTypeDef,
    )

TERMINAL = ("Completed", "Failed", "Stopped")
POLL_SECONDS = 0.5


class LogTail:
    """Copies the new events of a group's streams (by name prefix) to ``write``, merged by time."""

    def __init__(
        self,
        client: CloudWatchLogsClient,
        group: str,
        prefix: str,
        write: Callable[[str], object],
        label: Callable[[str], str] | None = None,
    ) -> None:
        self._client = client
        self._group = group
        self._prefix = prefix
        self._write = write
        self._label = label
        self._tokens: dict[str, str] = {}

    def read(self) -> None:
        """Print everything written since the last read."""
        lines: list[tuple[int, str, str]] = []
        for stream in self._streams():
            lines += [(timestamp, stream, message) for timestamp, message in self._new(stream)]
        lines.sort(key=lambda line: (line[0], line[1]))
        for _, stream, message in lines:
            label = f"[{self._label(stream)}] " if self._label else ""
            self._write(f"{label}{message}\n")

    def _streams(self) -> list[str]:
        names: list[str] = []
        token: str | None = None
        while True:
            request: DescribeLogStreamsRequestTypeDef = {"logGroupName": self._group}
            if self._prefix:
                request["logStreamNamePrefix"] = self._prefix
            if token:
                request["nextToken"] = token
            try:
                answer = self._client.describe_log_streams(**request)
            except ClientError as e:
                if e.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                    return []  # nothing written yet
                raise
            names += [s["logStreamName"] for s in answer["logStreams"]]
            token = answer.get("nextToken")
            if token is None:
                return names

    def _new(self, stream: str) -> list[tuple[int, str]]:
        events: list[tuple[int, str]] = []
        token = self._tokens.get(stream)
        while True:
            request: GetLogEventsRequestTypeDef = {
                "logGroupName": self._group,
                "logStreamName": stream,
                "startFromHead": True,
            }
            if token:
                request["nextToken"] = token
            answer = self._client.get_log_events(**request)
            events += [(e["timestamp"], e["message"]) for e in answer["events"]]
            drained = not answer["events"] or answer["nextForwardToken"] == token
            token = answer["nextForwardToken"]
            if drained:
                self._tokens[stream] = token
                return events


def job_log(
    client: CloudWatchLogsClient, job: str, write: Callable[[str], object], *, hosts: int
) -> LogTail:
    """A training job's log: its hosts' streams, each line after ``[algo-N]`` if several."""
    label = (lambda stream: host_of(stream)) if hosts > 1 else None
    return LogTail(client, TRAINING_JOBS_GROUP, f"{job}/", write, label)


def endpoint_log(
    client: CloudWatchLogsClient, endpoint: str, write: Callable[[str], object]
) -> LogTail:
    """An endpoint's log: every replica's stream, each line after ``[<variant>/<replica>]``."""
    return LogTail(client, endpoint_group(endpoint), "", write, lambda stream: stream)


class JobFollower:
    """Prints a job's log and status changes to ``out`` until the job ends."""

    def __init__(
        self,
        describe: Callable[[], DescribeTrainingJobResponseTypeDef],
        client: CloudWatchLogsClient,
        job_name: str,
        out: TextIO,
        *,
        show_transitions: bool = True,
    ) -> None:
        self._describe = describe
        self._client = client
        self._job_name = job_name
        self._out = out
        self._show = show_transitions
        self._shown_transitions = 0

    def follow(self) -> DescribeTrainingJobResponseTypeDef:
        """Print until the job ends; its final description."""
        job = self._describe()
        hosts = job["ResourceConfig"]["InstanceCount"]
        tail = job_log(self._client, self._job_name, self._write, hosts=hosts)
        while job["TrainingJobStatus"] not in TERMINAL:
            self._show_transitions(job)
            tail.read()
            time.sleep(POLL_SECONDS)
            job = self._describe()
        # The runner's closing line is written before the status turns final.
        tail.read()
        self._show_transitions(job)
        return job

    def _show_transitions(self, job: DescribeTrainingJobResponseTypeDef) -> None:
        if not self._show:
            return
        transitions = job.get("SecondaryStatusTransitions", [])
        for transition in transitions[self._shown_transitions :]:
            self._write(transition_line(transition) + "\n")
        self._shown_transitions = len(transitions)

    def _write(self, text: str) -> None:
        self._out.write(text)
        self._out.flush()


def transition_line(transition: SecondaryStatusTransitionTypeDef) -> str:
    """``2024-05-01 12:00:00 Training - Training in progress.``, as sagemaker SDK v2 prints."""
    when = transition["StartTime"].astimezone()
    return (
        f"{when:%Y-%m-%d %H:%M:%S} {transition['Status']} - {transition.get('StatusMessage', '')}"
    )
