"""CloudWatch Logs through a real server and real boto3: the streams jobs and replicas write."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from conftest import Kiln, deploy, script_job, upload_model, upload_source, wait_for_log
from kiln.cli import app
from kiln.sdk.signing import signed_headers

GROUP = "/aws/sagemaker/TrainingJobs"
TWO_LINES = "print('first line')\nprint('second line', flush=True)\n"


def _logs(kiln: Kiln) -> Any:
    return kiln.client("logs")


def _code(error: pytest.ExceptionInfo[ClientError]) -> str:
    return str(error.value.response["Error"]["Code"])


def _run(kiln: Kiln, name: str, script: str, **extra: Any) -> dict[str, Any]:
    source = upload_source(kiln, {"train.py": script})
    kiln.sagemaker.create_training_job(**script_job(name, source, **extra))
    # The runner's last line comes just before the final status.
    wait_for_log(kiln.settings, name, "[kiln] job ")
    job = kiln.wait(name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return job


def _stream_of(kiln: Kiln, job: str) -> str:
    streams = _logs(kiln).describe_log_streams(
        logGroupName=GROUP, logStreamNamePrefix=f"{job}/", orderBy="LogStreamName"
    )["logStreams"]
    assert len(streams) == 1
    return str(streams[0]["logStreamName"])


def _messages(answer: dict[str, Any]) -> list[str]:
    return [e["message"] for e in answer["events"]]


@pytest.mark.slow
def test_a_jobs_lines_are_in_its_host_stream_with_the_time_they_were_written(kiln: Kiln) -> None:
    before = int(time.time() * 1000)
    job = _run(kiln, "cw-lines", TWO_LINES)
    stream = _stream_of(kiln, "cw-lines")
    job_name, host = stream.split("/")
    assert (job_name, host.rsplit("-", 1)[0]) == ("cw-lines", "algo-1")
    assert abs(int(host.rsplit("-", 1)[1]) - job["TrainingStartTime"].timestamp()) <= 1
    answer = _logs(kiln).get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True
    )
    messages = _messages(answer)
    assert messages[:2] == ["first line", "second line"]
    assert messages[-1] == "[kiln] job completed"
    stamps = [e["timestamp"] for e in answer["events"]]
    assert before <= stamps[0] <= stamps[-1] <= int(time.time() * 1000)
    assert stamps == sorted(stamps)
    described = _logs(kiln).describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="cw-")
    info = described["logStreams"][0]
    assert (info["firstEventTimestamp"], info["lastEventTimestamp"]) == (stamps[0], stamps[-1])
    assert "nextToken" not in described


@pytest.mark.slow
def test_paging_forward_hands_back_the_same_token_when_drained(kiln: Kiln) -> None:
    _run(kiln, "cw-pages", "for i in range(5):\n    print(f'line {i}')\n")
    stream, logs = _stream_of(kiln, "cw-pages"), _logs(kiln)
    seen: list[str] = []
    answer = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True, limit=2
    )
    while answer["events"]:
        seen += _messages(answer)
        token = answer["nextForwardToken"]
        answer = logs.get_log_events(
            logGroupName=GROUP, logStreamName=stream, nextToken=token, limit=2
        )
    assert seen[:5] == [f"line {i}" for i in range(5)]
    assert answer["nextForwardToken"] == token
    assert token.startswith("f/")
    assert answer["nextBackwardToken"].startswith("b/")


@pytest.mark.slow
def test_default_read_is_the_latest_events_and_pages_backward(kiln: Kiln) -> None:
    _run(kiln, "cw-back", "for i in range(4):\n    print(f'line {i}')\n")
    stream, logs = _stream_of(kiln, "cw-back"), _logs(kiln)
    latest = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, limit=1)
    assert _messages(latest) == ["[kiln] job completed"]
    before = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, nextToken=latest["nextBackwardToken"], limit=2
    )
    assert len(before["events"]) == 2
    assert before["events"][-1]["timestamp"] <= latest["events"][0]["timestamp"]


@pytest.mark.slow
def test_start_time_resumes_where_the_sagemaker_sdk_left_off(kiln: Kiln) -> None:
    _run(
        kiln,
        "cw-time",
        "import time\nprint('early', flush=True)\ntime.sleep(0.05)\nprint('late')\n",
    )
    stream, logs = _stream_of(kiln, "cw-time"), _logs(kiln)
    events = logs.get_log_events(logGroupName=GROUP, logStreamName=stream, startFromHead=True)
    late = next(e for e in events["events"] if e["message"] == "late")
    answer = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True, startTime=late["timestamp"]
    )
    assert _messages(answer)[0] == "late"
    until = logs.get_log_events(
        logGroupName=GROUP, logStreamName=stream, startFromHead=True, endTime=late["timestamp"]
    )
    assert "late" not in _messages(until)
    assert "early" in _messages(until)


@pytest.mark.slow
def test_filter_log_events_matches_terms_across_a_jobs_hosts(kiln: Kiln) -> None:
    script = "import os\nprint('loss=0.5 on', os.environ['SM_CURRENT_HOST'])\nprint('noise')\n"
    resources = {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 10}
    _run(kiln, "cw-filter", script, ResourceConfig=resources)
    logs = _logs(kiln)
    answer = logs.filter_log_events(
        logGroupName=GROUP, logStreamNamePrefix="cw-filter/", filterPattern="loss -noise"
    )
    assert sorted(_messages(answer)) == ["loss=0.5 on algo-1", "loss=0.5 on algo-2"]
    hosts = {e["logStreamName"].split("/")[1].rsplit("-", 1)[0] for e in answer["events"]}
    assert hosts == {"algo-1", "algo-2"}
    assert "nextToken" not in answer
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=GROUP, logStreamNamePrefix="cw-filter/", PaginationConfig={"PageSize": 1}
    )
    every = [e["message"] for page in pages for e in page["events"]]
    assert sorted(every) == sorted(_messages(logs.filter_log_events(logGroupName=GROUP)))
    assert every.count("noise") == 2


@pytest.mark.slow
def test_a_replicas_output_is_in_its_endpoints_group(kiln: Kiln, cli_env: dict[str, str]) -> None:
    code = "print('loading my model', flush=True)\ndef model_fn(model_dir):\n    return 1\n"
    deploy(kiln, "cw-ep", {"AllTraffic": (upload_model(kiln, {"code/inference.py": code}), 1, 1.0)})
    logs = _logs(kiln)
    group = "/aws/sagemaker/Endpoints/cw-ep"
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/Endpoints/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1
    assert streams[0]["logStreamName"].startswith("AllTraffic/cw-ep-")
    answer = logs.filter_log_events(logGroupName=group, filterPattern='"loading my model"')
    assert _messages(answer) == ["loading my model"]
    printed = CliRunner().invoke(app, ["logs", "--endpoint", "cw-ep"], env=cli_env)
    stream = streams[0]["logStreamName"]
    assert f"[{stream}] loading my model\n" in printed.stdout


def test_missing_groups_and_streams_are_resource_not_found(kiln: Kiln) -> None:
    logs = _logs(kiln)
    with pytest.raises(ClientError) as group:
        logs.describe_log_streams(logGroupName="/aws/sagemaker/Endpoints/nope")
    assert _code(group) == "ResourceNotFoundException"
    assert group.value.response["Error"]["Message"] == "The specified log group does not exist."
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName="/nope", logStreamName="x")


@pytest.mark.slow
def test_bad_tokens_limits_and_patterns_are_invalid_parameters(kiln: Kiln) -> None:
    _run(kiln, "cw-bad", TWO_LINES)
    stream, logs = _stream_of(kiln, "cw-bad"), _logs(kiln)
    calls = [
        lambda: logs.get_log_events(logGroupName=GROUP, logStreamName=stream, nextToken="f/3"),
        lambda: logs.get_log_events(logGroupName=GROUP, logStreamName=stream, nextToken="zz"),
        lambda: logs.describe_log_streams(logGroupName=GROUP, limit=51),
        lambda: logs.describe_log_streams(logGroupName=GROUP, nextToken="nope"),
        lambda: logs.filter_log_events(logGroupName=GROUP, filterPattern="{ $.a = 1 }"),
        lambda: logs.describe_log_streams(
            logGroupName=GROUP, orderBy="LastEventTime", logStreamNamePrefix="cw-"
        ),
    ]
    for call in calls:
        with pytest.raises(logs.exceptions.InvalidParameterException):
            call()
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName=GROUP, logStreamName="cw-bad/algo-9-0")


@pytest.mark.slow
def test_describe_pages_carry_next_token_only_while_more_remain(kiln: Kiln) -> None:
    for name in ("cw-p1", "cw-p2", "cw-p3"):
        _run(kiln, name, "print('x')\n")
    logs = _logs(kiln)
    first = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="cw-p", limit=2)
    second = logs.describe_log_streams(
        logGroupName=GROUP, logStreamNamePrefix="cw-p", limit=2, nextToken=first["nextToken"]
    )
    names = [s["logStreamName"] for s in first["logStreams"] + second["logStreams"]]
    assert [n.split("/")[0] for n in names] == ["cw-p1", "cw-p2", "cw-p3"]
    assert "nextToken" not in second
    newest = logs.describe_log_streams(
        logGroupName=GROUP, orderBy="LastEventTime", descending=True, limit=1
    )
    assert newest["logStreams"][0]["logStreamName"].startswith("cw-p3/")


@pytest.mark.slow
def test_native_endpoint_reads_the_same_store(kiln: Kiln) -> None:
    _run(kiln, "cw-native", TWO_LINES)
    url = f"{kiln.endpoint}/kiln/v1/training-jobs/cw-native/logs"
    with urllib.request.urlopen(_signed_get(kiln, url), timeout=10) as response:
        text = response.read().decode()
    assert text.startswith("first line\nsecond line\n")
    assert text.endswith("[kiln] job completed\n")
    following = _signed_get(kiln, f"{url}?offset=11&follow=true")
    with urllib.request.urlopen(following, timeout=10) as response:
        assert response.read().decode().startswith("second line\n")


def _signed_get(kiln: Kiln, url: str) -> urllib.request.Request:
    return urllib.request.Request(url, headers=signed_headers(kiln.settings, "GET", url))
