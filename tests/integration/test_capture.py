"""Data capture through a real embedded store: files in SageMaker's format, layout and timing.

The writer is fed ``InvocationRecord``s directly (as the data plane will) and writes through the
server's own ``ObjectStore``; the files are read back over S3 and checked as Model Monitor reads
them. The last test goes through boto3 end to end and waits for the data plane.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest

from conftest import Kiln, start_kiln, wait_until
from kiln.config import Settings
from kiln.ports import free_port
from kiln.services.hosting.invocations import CaptureConfig, InvocationRecord, Outcome
from kiln.services.monitoring.capture import CaptureCounters, CapturePolicy, CaptureWriter
from kiln.storage import ObjectStore, S3Uri, s3_client

BUCKET = "capture"
DESTINATION = f"s3://{BUCKET}/model-monitor/data-capture"
CONFIG = CaptureConfig(
    sampling_percentage=100,
    destination=DESTINATION,
    capture_input=True,
    capture_output=True,
    csv_content_types=frozenset({"text/csv"}),
    json_content_types=frozenset({"application/json"}),
)
# Long enough that nothing is written by age unless a test asks for it.
NEVER = CapturePolicy(flush_seconds=3600, retry_first_seconds=0.05)
KEY = re.compile(
    r"model-monitor/data-capture/(?P<endpoint>[^/]+)/(?P<variant>[^/]+)/"
    r"(?P<hour>\d{4}/\d\d/\d\d/\d\d)/\d\d-\d\d-\d{3}-[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\.jsonl"
)
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


def invocation(endpoint: str = "ep", **changes: Any) -> InvocationRecord:
    """A sampled invocation: CSV in, JSON out, a fresh event id, arrived now."""
    record = InvocationRecord(
        endpoint=endpoint,
        variant="AllTraffic",
        is_shadow=False,
        replica="r-1",
        event_id=str(uuid.uuid4()),
        inference_id=None,
        arrived_at=time.time(),
        outcome=Outcome.ANSWERED,
        model_status=200,
        model_latency_us=1500,
        overhead_latency_us=200,
        request_body=b"17.99,10.38,122.8",
        request_content_type="text/csv",
        request_accept="application/json",
        response_body=b'{"predictions": [0]}',
        response_content_type="application/json",
        capture=CONFIG,
    )
    return replace(record, **changes)


def check_direction(entry: dict[str, Any], mode: str) -> bytes:
    """One ``endpointInput``/``endpointOutput`` checked strictly; its body decoded."""
    assert set(entry) == {"observedContentType", "mode", "data", "encoding"}
    assert entry["mode"] == mode
    assert isinstance(entry["observedContentType"], str)
    assert isinstance(entry["data"], str)
    if entry["encoding"] == "BASE64":
        return base64.b64decode(entry["data"], validate=True)
    assert entry["encoding"] in ("CSV", "JSON")
    if entry["encoding"] == "JSON":
        json.loads(entry["data"])  # Model Monitor parses it as JSON
    return bytes(entry["data"], "utf-8")


def parse_capture_file(body: bytes) -> list[dict[str, Any]]:
    """A capture file's records, each checked against SageMaker's format as the analyzer reads
    it (``sagemakerCaptureJson`` with ``captureIndexNames`` endpointInput, endpointOutput)."""
    assert body.endswith(b"\n")
    records = []
    for line in body.decode("utf-8").splitlines():
        record = json.loads(line)
        assert list(record) == ["captureData", "eventMetadata", "eventVersion"]
        assert record["eventVersion"] == "0"
        data = record["captureData"]
        assert data
        assert set(data) <= {"endpointInput", "endpointOutput"}
        if "endpointInput" in data:
            check_direction(data["endpointInput"], "INPUT")
        if "endpointOutput" in data:
            check_direction(data["endpointOutput"], "OUTPUT")
        metadata = record["eventMetadata"]
        assert set(metadata) - {"inferenceId"} == {"eventId", "inferenceTime"}
        uuid.UUID(metadata["eventId"])
        assert TIME.fullmatch(metadata["inferenceTime"])
        records.append(record)
    return records


def captured_files(objects: ObjectStore) -> dict[str, list[dict[str, Any]]]:
    """Every capture file in the bucket (key → its parsed records), layout checked."""
    files = {}
    for key, _size in objects.keys(S3Uri(BUCKET, "")):
        match = KEY.fullmatch(key)
        assert match, f"{key!r} is not SageMaker's capture layout"
        body = objects.client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
        records = parse_capture_file(body)
        for record in records:
            # the folder is the UTC hour of every inference the file holds
            hour = record["eventMetadata"]["inferenceTime"][:13].replace("-", "/")
            assert match["hour"] == hour.replace("T", "/")
        files[key] = records
    return files


def folder(key: str) -> tuple[str, str, str]:
    """The endpoint, variant and ``yyyy/mm/dd/hh`` a capture file's key names."""
    match = KEY.fullmatch(key)
    assert match
    return match["endpoint"], match["variant"], match["hour"]


def event_ids(files: dict[str, list[dict[str, Any]]]) -> list[str]:
    return [r["eventMetadata"]["eventId"] for records in files.values() for r in records]


@pytest.fixture
def objects(kiln: Kiln) -> ObjectStore:
    """The server's own store client, with the destination bucket made."""
    store = kiln.thread.kiln.objects
    store.ensure_bucket(BUCKET)
    return store


@pytest.fixture
def make_writer() -> Iterator[Callable[..., CaptureWriter]]:
    """Start a writer on a store with a policy; every one is closed at the end."""
    writers: list[CaptureWriter] = []

    def make(store: ObjectStore, policy: CapturePolicy = NEVER, **kw: Any) -> CaptureWriter:
        writer = CaptureWriter(store, policy, **kw).start()
        writers.append(writer)
        return writer

    yield make
    for writer in writers:
        writer.close()


def test_every_sampled_record_lands_once_and_only_those(
    objects: ObjectStore, make_writer: Callable[..., CaptureWriter]
) -> None:
    writer = make_writer(objects)
    sampled = [invocation() for _ in range(40)]
    for record in sampled:
        writer.observe(record)
        writer.observe(invocation(capture=None))  # not sampled
    writer.close()
    ids = event_ids(captured_files(objects))
    assert sorted(ids) == sorted(r.event_id for r in sampled)
    assert writer.counters("ep").captured == 40


def test_files_hold_sagemakers_records(
    objects: ObjectStore, make_writer: Callable[..., CaptureWriter]
) -> None:
    writer = make_writer(objects)
    writer.observe(
        invocation(inference_id="order-17", event_id="0" * 8 + "-0000-0000-0000-" + "0" * 12)
    )
    writer.close()
    [records] = captured_files(objects).values()
    assert records[0]["captureData"]["endpointInput"]["data"] == "17.99,10.38,122.8"
    assert records[0]["captureData"]["endpointInput"]["encoding"] == "CSV"
    assert records[0]["captureData"]["endpointOutput"]["data"] == '{"predictions": [0]}'
    assert records[0]["captureData"]["endpointOutput"]["encoding"] == "JSON"
    assert records[0]["eventMetadata"]["inferenceId"] == "order-17"


def test_files_are_grouped_per_endpoint_variant_and_hour(
    objects: ObjectStore, make_writer: Callable[..., CaptureWriter]
) -> None:
    writer = make_writer(objects)
    noon = 1_767_268_800.0  # 2026-01-01T12:00:00Z
    writer.observe(invocation("ep-a", arrived_at=noon + 10))
    writer.observe(invocation("ep-a", arrived_at=noon + 20))
    writer.observe(invocation("ep-a", arrived_at=noon + 3600))  # 13:00
    writer.observe(invocation("ep-a", variant="Canary", arrived_at=noon + 30))
    writer.observe(invocation("ep-b", arrived_at=noon + 40))
    writer.close()
    layout = sorted(
        (*folder(key), len(records)) for key, records in captured_files(objects).items()
    )
    assert layout == [
        ("ep-a", "AllTraffic", "2026/01/01/12", 2),
        ("ep-a", "AllTraffic", "2026/01/01/13", 1),
        ("ep-a", "Canary", "2026/01/01/12", 1),
        ("ep-b", "AllTraffic", "2026/01/01/12", 1),
    ]


def test_a_file_is_written_once_it_is_old_enough(
    objects: ObjectStore, make_writer: Callable[..., CaptureWriter]
) -> None:
    writer = make_writer(objects, CapturePolicy(flush_seconds=0.3))
    record = invocation()
    writer.observe(record)
    wait_until(lambda: event_ids(captured_files(objects)) == [record.event_id], "a timed flush", 10)


def test_a_file_is_written_once_it_is_full(
    objects: ObjectStore, make_writer: Callable[..., CaptureWriter]
) -> None:
    writer = make_writer(objects, replace(NEVER, file_bytes=2000))
    for _ in range(30):  # ~330 bytes a line: 6 lines a file
        writer.observe(invocation())
    wait_until(lambda: len(captured_files(objects)) >= 4, "full files written", 10)
    sizes = [size for _key, size in objects.keys(S3Uri(BUCKET, ""))]
    assert max(sizes) <= 2000
    assert sum(size <= 2000 - 400 for size in sizes) <= 1  # full to within a line, but the last


def test_flush_writes_that_endpoint_now_and_no_other(
    objects: ObjectStore, make_writer: Callable[..., CaptureWriter]
) -> None:
    writer = make_writer(objects)
    kept = invocation("ep-a")
    writer.observe(kept)
    writer.observe(invocation("ep-b"))
    writer.flush("ep-a")
    wait_until(lambda: event_ids(captured_files(objects)) == [kept.event_id], "ep-a flushed", 10)
    assert writer.counters("ep-b").pending == 1


def test_close_loses_nothing_it_holds(
    objects: ObjectStore, make_writer: Callable[..., CaptureWriter]
) -> None:
    writer = make_writer(objects)
    sampled = [invocation(f"ep-{i % 3}") for i in range(300)]
    for record in sampled:
        writer.observe(record)
    writer.close()
    assert sorted(event_ids(captured_files(objects))) == sorted(r.event_id for r in sampled)
    assert [writer.counters(f"ep-{i}").pending for i in range(3)] == [0, 0, 0]


def test_records_after_close_are_dropped_and_counted(
    objects: ObjectStore, make_writer: Callable[..., CaptureWriter]
) -> None:
    writer = make_writer(objects)
    writer.close()
    writer.observe(invocation())
    assert writer.counters("ep").dropped == 1


def test_a_missing_bucket_drops_past_the_bound_and_counts_without_raising(
    objects: ObjectStore, make_writer: Callable[..., CaptureWriter]
) -> None:
    policy = replace(NEVER, flush_seconds=0.1, buffer_records=5)
    writer = make_writer(objects, policy, close_seconds=0.5)
    missing = replace(CONFIG, destination="s3://no-such-bucket/capture")
    for _ in range(5):
        writer.observe(invocation(capture=missing))
    wait_until(lambda: writer.counters("ep").failed_writes >= 2, "retried writes", 10)
    for _ in range(7):
        writer.observe(invocation(capture=missing))  # past the bound of 5
    problem = writer.problem("ep")
    assert problem is not None
    assert "s3://no-such-bucket/capture" in problem
    assert "NoSuchBucket" in problem
    assert writer.counters("ep").dropped == 7
    writer.close()  # gives up on what it holds, counts it, raises nothing
    assert writer.counters("ep") == replace(
        writer.counters("ep"), captured=0, dropped=12, pending=0
    )


def test_a_store_that_is_down_is_a_problem_not_an_error(
    kiln_settings: Settings, make_writer: Callable[..., CaptureWriter]
) -> None:
    down = replace(kiln_settings, external_s3_endpoint_url=f"http://127.0.0.1:{free_port()}")
    writer = make_writer(ObjectStore(s3_client(down)), replace(NEVER, flush_seconds=0.1))
    writer.observe(invocation())
    wait_until(lambda: writer.problem("ep") is not None, "a problem reported", 30)
    assert "cannot write captured data to" in str(writer.problem("ep"))
    assert writer.counters("ep").pending == 1


def test_writes_resume_and_the_problem_clears_once_the_bucket_exists(
    kiln: Kiln, make_writer: Callable[..., CaptureWriter]
) -> None:
    objects = kiln.thread.kiln.objects
    writer = make_writer(objects, replace(NEVER, flush_seconds=0.1))
    record = invocation()
    writer.observe(record)
    wait_until(lambda: writer.problem("ep") is not None, "the missing bucket noticed", 10)
    objects.ensure_bucket(BUCKET)
    wait_until(lambda: writer.counters("ep").captured == 1, "written after all", 10)
    assert writer.problem("ep") is None
    assert event_ids(captured_files(objects)) == [record.event_id]


@pytest.mark.slow
def test_invocations_with_capture_on_are_written_as_sagemaker_does(kiln: Kiln) -> None:
    from conftest import ROLE, sklearn_model_files, upload_model, wait_in_service

    kiln.thread.kiln.objects.ensure_bucket(BUCKET)
    model_uri = upload_model(kiln, sklearn_model_files())
    sm = kiln.sagemaker
    sm.create_model(
        ModelName="captured",
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": "kiln/python", "ModelDataUrl": model_uri},
    )
    sm.create_endpoint_config(
        EndpointConfigName="captured",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": "captured",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": DESTINATION,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]},
        },
    )
    sm.create_endpoint(EndpointName="captured", EndpointConfigName="captured")
    wait_in_service(kiln, "captured")
    runtime = kiln.client("sagemaker-runtime")
    row = ",".join(["1.0"] * 30)
    for i in range(10):
        runtime.invoke_endpoint(
            EndpointName="captured", Body=row, ContentType="text/csv", InferenceId=f"inf-{i}"
        )
    sm.delete_endpoint(EndpointName="captured")  # flushes what the endpoint holds
    objects = kiln.thread.kiln.objects
    wait_until(lambda: len(event_ids(captured_files(objects))) == 10, "10 captured records", 60)
    records = [r for rs in captured_files(objects).values() for r in rs]
    assert sorted(r["eventMetadata"]["inferenceId"] for r in records) == sorted(
        f"inf-{i}" for i in range(10)
    )
    assert {r["captureData"]["endpointInput"]["data"] for r in records} == {row}
    assert {r["captureData"]["endpointInput"]["encoding"] for r in records} == {"CSV"}


def test_a_stopping_server_writes_what_its_writer_holds(kiln_settings: Settings) -> None:
    with start_kiln(kiln_settings) as kiln:
        kiln.thread.kiln.objects.ensure_bucket(BUCKET)
        sampled = [invocation() for _ in range(25)]
        for record in sampled:
            kiln.thread.kiln.capture.observe(record)  # held: files are written after 60 s
    # The server and its store are gone: read the files the store left on disk.
    files = sorted((kiln_settings.storage_dir / BUCKET).rglob("*.jsonl"))
    written = [r for path in files for r in parse_capture_file(path.read_bytes())]
    assert sorted(r["eventMetadata"]["eventId"] for r in written) == sorted(
        r.event_id for r in sampled
    )


def test_a_record_that_cannot_be_json_is_dropped_and_counted_alone(
    objects: ObjectStore, make_writer: Callable[..., CaptureWriter]
) -> None:
    writer = make_writer(objects)
    good = invocation()
    writer.observe(invocation(inference_id="bad-\ud800"))  # a lone surrogate: no UTF-8 for it
    writer.observe(good)
    writer.close()
    assert event_ids(captured_files(objects)) == [good.event_id]
    assert writer.counters("ep") == CaptureCounters(
        captured=1, dropped=1, failed_writes=0, pending=0
    )


@pytest.mark.slow
def test_an_unwritable_destination_keeps_the_endpoint_serving_and_says_so(
    kiln_settings: Settings,
) -> None:
    from conftest import ROLE, sklearn_model_files, upload_model, wait_in_service

    with start_kiln(replace(kiln_settings, capture_flush_seconds=0.2)) as kiln:
        sm = kiln.sagemaker
        sm.create_model(
            ModelName="lost",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": "kiln/python", "ModelDataUrl": upload_model(
                kiln, sklearn_model_files())},
        )  # fmt: skip
        sm.create_endpoint_config(
            EndpointConfigName="lost",
            ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "lost",
                                 "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
            DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                               "DestinationS3Uri": "s3://no-such-bucket/capture",
                               "CaptureOptions": [{"CaptureMode": "Input"}]},
        )  # fmt: skip
        sm.create_endpoint(EndpointName="lost", EndpointConfigName="lost")
        wait_in_service(kiln, "lost")
        runtime = kiln.client("sagemaker-runtime")
        for _ in range(5):
            answer = runtime.invoke_endpoint(
                EndpointName="lost", Body=",".join(["1.0"] * 30), ContentType="text/csv"
            )
            assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200

        def reason() -> str:
            return str(sm.describe_endpoint(EndpointName="lost").get("FailureReason", ""))

        wait_until(lambda: "NoSuchBucket" in reason(), "the capture problem is described", 30)
        described = sm.describe_endpoint(EndpointName="lost")
        assert described["EndpointStatus"] == "InService"
        assert reason().startswith(
            "Data capture: cannot write captured data to s3://no-such-bucket"
        )
        assert kiln.thread.kiln.capture.counters("lost").failed_writes >= 1
