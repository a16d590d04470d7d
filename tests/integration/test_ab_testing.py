"""Ground-truth feedback and the A/B report through a real server, real S3 and real boto3.

Most tests feed the server's inference log directly (the same ``observe`` the data plane
calls), to plant exact predictions; the last one goes through real invocations end to end.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import uuid
from dataclasses import replace

import pytest
from botocore.exceptions import ClientError
from typer.testing import CliRunner

from conftest import ROLE, Kiln, deploy, upload_model, wait_in_service
from kiln import compare_variants, send_ground_truth
from kiln.cli import app
from kiln.config import Credentials
from kiln.sdk import Session
from kiln.sdk.signing import call_native
from kiln.services.hosting.invocations import InvocationRecord, Outcome
from kiln.storage import S3Uri

pytestmark = pytest.mark.slow

LABEL_CODE = """
import json, os
def model_fn(model_dir):
    return float(os.environ.get("ACCURACY", "1"))
def transform_fn(accuracy, data, content_type, accept):
    row = json.loads(data)
    right = row["sample"] < accuracy * 100
    return json.dumps(row["label"] if right else 1 - row["label"]), "application/json"
"""

ANSWER = InvocationRecord(
    endpoint="", variant="", is_shadow=False, replica="r", event_id="e", inference_id=None,
    arrived_at=0.0, outcome=Outcome.ANSWERED, model_status=200, model_latency_us=1000,
    overhead_latency_us=100, request_body=b"{}", request_content_type="application/json",
    request_accept=None, response_body=b"", response_content_type="application/json",
    capture=None,
)  # fmt: skip


def _endpoint(kiln: Kiln, *, wait: bool = False) -> str:
    """An endpoint with variants A and B (their replicas may still be starting)."""
    name = f"ab-{uuid.uuid4().hex[:8]}"
    model = upload_model(kiln, {"code/inference.py": LABEL_CODE})
    deploy(kiln, name, {"A": (model, 1, 1.0), "B": (model, 1, 1.0)}, wait=wait)
    return name


def _served(kiln: Kiln, endpoint: str, answers: dict[str, tuple[str, int]]) -> None:
    """Tell the inference log that ``endpoint`` answered each id (id → (variant, answer))."""
    log = kiln.thread.kiln.inference_log
    for inference_id, (variant, answer) in answers.items():
        log.observe(
            replace(ANSWER, endpoint=endpoint, variant=variant, inference_id=inference_id,
                    arrived_at=time.time(), response_body=json.dumps(answer).encode())
        )  # fmt: skip
    log.flush()


def test_feedback_is_stored_and_written_in_model_monitors_format(
    kiln: Kiln, session: Session
) -> None:
    endpoint = _endpoint(kiln)
    _served(kiln, endpoint, {"req-1": ("A", 1), "req-2": ("B", 0)})
    result = send_ground_truth(endpoint, {"req-1": 1, "req-2": "1"}, session)
    assert (result.accepted, result.rejected) == (2, ())
    assert result.location is not None
    uri = S3Uri.parse(result.location)
    today = time.strftime("%Y/%m/%d", time.gmtime())
    assert uri.key.startswith(f"model-monitor/ground-truth/{endpoint}/{today}/")
    body = kiln.s3.get_object(Bucket=uri.bucket, Key=uri.key)["Body"].read().decode()
    assert [json.loads(line) for line in body.splitlines()] == [
        {"groundTruthData": {"data": "1", "encoding": "CSV"},
         "eventMetadata": {"eventId": f"req-{i}"}, "eventVersion": "0"}
        for i in (1, 2)
    ]  # fmt: skip


def test_unknown_and_labelled_ids_are_rejected_record_by_record(
    kiln: Kiln, session: Session
) -> None:
    endpoint = _endpoint(kiln)
    _served(kiln, endpoint, {"req-1": ("A", 1), "req-2": ("A", 1)})
    send_ground_truth(endpoint, {"req-1": 1}, session)
    result = send_ground_truth(endpoint, {"req-1": 0, "req-2": 1, "nobody": 1}, session)
    assert result.accepted == 1
    assert {(r.inference_id, r.reason.split()[0]) for r in result.rejected} == {
        ("req-1", "already"),
        ("nobody", "no"),
    }


def test_a_malformed_batch_is_refused_whole_and_writes_nothing(
    kiln: Kiln, session: Session
) -> None:
    endpoint = _endpoint(kiln)
    _served(kiln, endpoint, {"req-1": ("A", 1)})
    document = {"Records": [{"InferenceId": "req-1", "GroundTruth": 1},
                            {"InferenceId": "req-2", "GroundTruth": None}]}  # fmt: skip
    with pytest.raises(urllib.error.HTTPError) as refused:
        call_native(session.settings, "POST", f"/kiln/v1/endpoints/{endpoint}/feedback", document)
    assert refused.value.code == 400
    assert "Records[1].GroundTruth" in json.loads(refused.value.read())["message"]
    assert send_ground_truth(endpoint, {"req-1": 1}, session).accepted == 1  # not labelled before


def test_feedback_for_an_unknown_endpoint_is_resource_not_found(session: Session) -> None:
    with pytest.raises(ClientError) as error:
        send_ground_truth("no-such-endpoint", {"req-1": 1}, session)
    assert error.value.response["Error"]["Code"] == "ResourceNotFound"


def test_the_report_of_an_unknown_endpoint_is_resource_not_found(session: Session) -> None:
    with pytest.raises(ClientError) as error:
        compare_variants("no-such-endpoint", session=session)
    assert error.value.response["Error"]["Code"] == "ResourceNotFound"


def test_the_report_finds_a_planted_accuracy_difference(kiln: Kiln, session: Session) -> None:
    endpoint = _endpoint(kiln)
    rng = random.Random(7)
    labels = {f"req-{i}": rng.randint(0, 1) for i in range(600)}
    # A is right 70 % of the time, B 90 %.
    answers = {
        i: (variant, label if rng.random() < accuracy else 1 - label)
        for n, (i, label) in enumerate(labels.items())
        for variant, accuracy in [("A", 0.7) if n % 2 else ("B", 0.9)]
    }
    _served(kiln, endpoint, answers)
    for start in range(0, 600, 300):
        batch = dict(list(labels.items())[start : start + 300])
        assert send_ground_truth(endpoint, batch, session).accepted == 300
    report = compare_variants(endpoint, session=session)
    a, b = report.variants
    assert (a.labelled, b.labelled) == (300, 300)
    assert a.accuracy == pytest.approx(0.7, abs=0.07)
    assert b.accuracy == pytest.approx(0.9, abs=0.07)
    assert report.verdict == "B is more accurate than A (p < 0.001)"
    assert a.invocations == 0  # fed to the inference log directly: no invocation was counted


def test_kiln_endpoints_compare_prints_the_table_and_the_verdict(
    kiln: Kiln, cli_env: dict[str, str]
) -> None:
    endpoint = _endpoint(kiln)
    result = CliRunner().invoke(app, ["endpoints", "compare", endpoint], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "accuracy" in result.output
    assert "no labelled requests yet" in result.output


def test_a_viewer_may_read_the_report_but_not_send_ground_truth(session: Session) -> None:
    key = call_native(
        session.settings, "POST", "/kiln/v1/keys", {"User": "val", "Policy": "viewer"}
    )
    viewer = Session(
        replace(
            session.settings, credentials=Credentials(key["AccessKeyId"], key["SecretAccessKey"])
        )
    )
    with pytest.raises(ClientError) as let_in:
        compare_variants("none", session=viewer)
    assert let_in.value.response["Error"]["Code"] == "ResourceNotFound"  # past the gate
    with pytest.raises(ClientError) as refused:
        send_ground_truth("none", {"req-1": 1}, viewer)
    assert refused.value.response["Error"]["Code"] == "AccessDeniedException"
    assert "sagemaker:PutGroundTruth" in refused.value.response["Error"]["Message"]


def test_real_invocations_then_feedback_find_the_planted_difference(
    kiln: Kiln, session: Session
) -> None:
    name = f"ab-{uuid.uuid4().hex[:8]}"
    code = upload_model(kiln, {"code/inference.py": LABEL_CODE})
    variants = []
    for variant, accuracy in (("A", "0.7"), ("B", "0.9")):  # B is right more often
        kiln.sagemaker.create_model(
            ModelName=f"{name}-{variant}".lower(), ExecutionRoleArn=ROLE,
            PrimaryContainer={"Image": "kiln/python", "ModelDataUrl": code,
                              "Environment": {"ACCURACY": accuracy}},
        )  # fmt: skip
        variants.append(
            {"VariantName": variant, "ModelName": f"{name}-{variant}".lower(),
             "InitialInstanceCount": 1, "InstanceType": "ml.m5.large",
             "InitialVariantWeight": 1.0}
        )  # fmt: skip
    kiln.sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants)
    kiln.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    wait_in_service(kiln, name)
    runtime = kiln.client("sagemaker-runtime")
    rng = random.Random(3)
    labels = {}
    for i in range(800):
        labels[f"req-{i}"] = label = rng.randint(0, 1)
        runtime.invoke_endpoint(
            EndpointName=name, ContentType="application/json", InferenceId=f"req-{i}",
            Body=json.dumps({"sample": rng.uniform(0, 100), "label": label}),
        )  # fmt: skip
    kiln.thread.kiln.inference_log.flush()
    for start in range(0, 800, 400):
        send_ground_truth(name, dict(list(labels.items())[start : start + 400]), session)
    report = compare_variants(name, session=session)
    assert [v.labelled for v in report.variants] == [pytest.approx(400, abs=80)] * 2
    assert report.verdict.startswith("B is more accurate than A")
