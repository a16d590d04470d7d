"""The aws CLI v1, unchanged, in its own virtualenv: s3, sagemaker, logs, sagemaker-runtime."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from conftest import sklearn_model_files, source_tarball

from .conftest import Clients
from .harness import ROLE, SCRIPTS, ClientVenv

BUCKET = "compat-cli"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


def _wait_for(aws: Any, args: list[str], key: str, ends: set[str], timeout: float = 180) -> Any:
    """Poll a describe-* command until ``key`` is in ``ends``; its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        answer = aws(*args)
        if answer[key] in ends or time.monotonic() > deadline:
            return answer
        time.sleep(0.5)


def test_s3_mb_cp_ls_sync(clients: Clients, awscli: ClientVenv, tmp_path: Path) -> None:
    aws = clients.run
    aws([awscli.bin("aws"), "s3", "mb", f"s3://{BUCKET}"], timeout=60)
    (tmp_path / "one.csv").write_text("1,2\n")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "a.txt").write_text("a")
    (tmp_path / "tree" / "b.txt").write_text("b")
    aws([awscli.bin("aws"), "s3", "cp", tmp_path / "one.csv", f"s3://{BUCKET}/data/one.csv"])
    aws([awscli.bin("aws"), "s3", "sync", tmp_path / "tree", f"s3://{BUCKET}/synced/"])
    listing = aws([awscli.bin("aws"), "s3", "ls", "--recursive", f"s3://{BUCKET}/"])
    assert [line.split()[-1] for line in listing.splitlines()] == [
        "data/one.csv",
        "synced/a.txt",
        "synced/b.txt",
    ]
    aws([awscli.bin("aws"), "s3", "cp", f"s3://{BUCKET}/synced/a.txt", tmp_path / "back.txt"])
    assert (tmp_path / "back.txt").read_text() == "a"


def test_training_job_list_describe_and_its_cloudwatch_logs(
    clients: Clients, awscli: ClientVenv, tmp_path: Path, cancer_csv: Path
) -> None:
    def aws(*args: str) -> Any:
        return clients.aws(awscli, *args)

    source = tmp_path / "sourcedir.tar.gz"
    source.write_bytes(
        source_tarball({"train.py": (SCRIPTS / "sklearn_cancer" / "train.py").read_text()})
    )
    clients.run([awscli.bin("aws"), "s3", "mb", "s3://compat-cli-jobs"])
    clients.run([awscli.bin("aws"), "s3", "cp", source, "s3://compat-cli-jobs/code/"])
    clients.run(
        [awscli.bin("aws"), "s3", "cp", cancer_csv / "train.csv", "s3://compat-cli-jobs/data/"]
    )
    request = {
        "TrainingJobName": "compat-cli-job",
        "RoleArn": ROLE,
        "AlgorithmSpecification": {
            "TrainingImage": SKLEARN_IMAGE,
            "TrainingInputMode": "File",
        },
        "HyperParameters": {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": '"s3://compat-cli-jobs/code/sourcedir.tar.gz"',
        },
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://compat-cli-jobs/data"}
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://compat-cli-jobs/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    (tmp_path / "job.json").write_text(json.dumps(request))
    created = aws(
        "sagemaker", "create-training-job", "--cli-input-json", f"file://{tmp_path / 'job.json'}"
    )
    assert created["TrainingJobArn"].endswith(":training-job/compat-cli-job")

    described = _wait_for(
        aws,
        ["sagemaker", "describe-training-job", "--training-job-name", "compat-cli-job"],
        "TrainingJobStatus",
        {"Completed", "Failed", "Stopped"},
    )
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert described["ModelArtifacts"]["S3ModelArtifacts"].endswith("/output/model.tar.gz")
    listed = aws("sagemaker", "list-training-jobs", "--name-contains", "compat-cli")
    assert [j["TrainingJobName"] for j in listed["TrainingJobSummaries"]] == ["compat-cli-job"]

    group = "/aws/sagemaker/TrainingJobs"
    streams = aws(
        "logs", "describe-log-streams", "--log-group-name", group,
        "--log-stream-name-prefix", "compat-cli-job/",
    )["logStreams"]  # fmt: skip
    assert [s["logStreamName"].startswith("compat-cli-job/algo-1-") for s in streams] == [True]
    events = aws(
        "logs", "get-log-events", "--log-group-name", group,
        "--log-stream-name", streams[0]["logStreamName"], "--start-from-head",
    )["events"]  # fmt: skip
    assert any("train_accuracy=" in e["message"] for e in events)


def test_endpoint_create_list_describe_invoke_delete(
    clients: Clients, awscli: ClientVenv, tmp_path: Path
) -> None:
    def aws(*args: str) -> Any:
        return clients.aws(awscli, *args)

    model = tmp_path / "model.tar.gz"
    model.write_bytes(source_tarball(sklearn_model_files()))
    clients.run([awscli.bin("aws"), "s3", "mb", "s3://compat-cli-models"])
    clients.run([awscli.bin("aws"), "s3", "cp", model, "s3://compat-cli-models/rf/"])
    # The forest is pickled by this machine's scikit-learn, which no sagemaker-scikit-learn tag
    # unpickles (1.2 cannot read 1.9's trees, on AWS either): serve it on Kiln's own Python.
    container = "Image=kiln/python,ModelDataUrl=s3://compat-cli-models/rf/model.tar.gz"
    aws("sagemaker", "create-model", "--model-name", "compat-cli-rf",
        "--execution-role-arn", ROLE, "--primary-container", container)  # fmt: skip
    variant = (
        "VariantName=AllTraffic,ModelName=compat-cli-rf,InitialInstanceCount=1,"
        "InstanceType=ml.m5.large"
    )
    aws("sagemaker", "create-endpoint-config", "--endpoint-config-name", "compat-cli-rf",
        "--production-variants", variant)  # fmt: skip
    aws("sagemaker", "create-endpoint", "--endpoint-name", "compat-cli-rf",
        "--endpoint-config-name", "compat-cli-rf")  # fmt: skip

    described = _wait_for(
        aws,
        ["sagemaker", "describe-endpoint", "--endpoint-name", "compat-cli-rf"],
        "EndpointStatus",
        {"InService", "Failed"},
    )
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    listed = aws("sagemaker", "list-endpoints", "--name-contains", "compat-cli")
    assert [e["EndpointName"] for e in listed["Endpoints"]] == ["compat-cli-rf"]

    (tmp_path / "rows.csv").write_text(",".join(["10.0"] * 30) + "\n")
    out = tmp_path / "answer.json"
    meta = aws("sagemaker-runtime", "invoke-endpoint", "--endpoint-name", "compat-cli-rf",
               "--content-type", "text/csv", "--accept", "application/json",
               "--body", f"fileb://{tmp_path / 'rows.csv'}", str(out))  # fmt: skip
    assert meta["ContentType"].startswith("application/json")
    assert len(json.loads(out.read_text())) == 1

    aws("sagemaker", "delete-endpoint", "--endpoint-name", "compat-cli-rf")
    aws("sagemaker", "delete-endpoint-config", "--endpoint-config-name", "compat-cli-rf")
    aws("sagemaker", "delete-model", "--model-name", "compat-cli-rf")
    assert aws("sagemaker", "list-endpoints")["Endpoints"] == []
