"""Framework image URIs run with what the real images carry: real jobs, replicas and uv."""

from __future__ import annotations

import json

import pytest

from conftest import (
    ROLE,
    Kiln,
    env_pythons,
    job_log_text,
    script_job,
    upload_model,
    upload_source,
    wait_in_service,
)

pytestmark = pytest.mark.slow

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"

# What AWS's scikit-learn iris example needs from the image, and the toolkit it carries.
PANDAS_SCRIPT = """
import pandas, sklearn, sagemaker_training
frame = pandas.DataFrame({"x": [1, 2, 3]})
print(f"pandas {pandas.__version__} sklearn {sklearn.__version__} sum={frame.x.sum()}")
"""

PANDAS_MODEL = """
import json, pandas, sklearn
def model_fn(model_dir):
    return {"pandas": pandas.__version__, "sklearn": sklearn.__version__}
def transform_fn(model, data, content_type, accept):
    return json.dumps(model), "application/json"
"""


def _sklearn_job(kiln: Kiln, name: str) -> str:
    source = upload_source(kiln, {"train.py": PANDAS_SCRIPT})
    request = script_job(name, source)
    request["AlgorithmSpecification"]["TrainingImage"] = SKLEARN_IMAGE
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait(name, timeout=600)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    return job_log_text(kiln.settings, name)


def test_sklearn_image_job_and_replica_get_pandas_from_one_cached_env(kiln: Kiln) -> None:
    first = _sklearn_job(kiln, "sklearn-image-1")
    assert "Building environment for sagemaker-scikit-learn:1.2-1-cpu-py3 (" in first
    assert "scikit-learn==1.2.*" in first
    assert " ready in " in first
    assert "sklearn 1.2." in first
    assert "sum=6" in first
    second = _sklearn_job(kiln, "sklearn-image-2")
    assert "Building environment" not in second
    assert "for sagemaker-scikit-learn:1.2-1-cpu-py3 (cached)" in second
    versions = _deploy_and_invoke(kiln, "sk-pandas")
    assert versions["pandas"].startswith("1.")
    assert versions["sklearn"].startswith("1.2.")
    logs = kiln.client("logs")
    group = "/aws/sagemaker/Endpoints/sk-pandas"
    (stream,) = logs.describe_log_streams(logGroupName=group)["logStreams"]
    events = logs.get_log_events(
        logGroupName=group, logStreamName=stream["logStreamName"], startFromHead=True
    )["events"]
    # The training jobs' environment, reused by the replica.
    assert any(e["message"].startswith("[kiln] Using environment") for e in events)
    assert len(env_pythons(kiln)) == 1


def _deploy_and_invoke(kiln: Kiln, name: str) -> dict[str, str]:
    model = upload_model(kiln, {"code/inference.py": PANDAS_MODEL})
    kiln.sagemaker.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": model},
    )
    kiln.sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "main", "ModelName": name, "InitialInstanceCount": 1,
             "InstanceType": "ml.m5.large"}
        ],
    )  # fmt: skip
    kiln.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    endpoint = wait_in_service(kiln, name, timeout=600)
    assert endpoint["EndpointStatus"] == "InService", endpoint.get("FailureReason")
    answer = kiln.client("sagemaker-runtime").invoke_endpoint(
        EndpointName=name, Body=b"{}", ContentType="application/json"
    )
    return dict(json.loads(answer["Body"].read()))
