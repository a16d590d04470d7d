"""``kiln.Session`` and ``kiln.Estimator`` against a real server, through boto3 and S3."""

from __future__ import annotations

import io
import json
import re
import tarfile
from pathlib import Path

import pytest

from conftest import ANY_STORE, EXAMPLES
from kiln import Estimator, NotTrainedError, Session, UnexpectedStatusError
from kiln.storage import S3Uri

METRICS = [
    {"Name": "train:accuracy", "Regex": r"train_accuracy=([0-9.]+)"},
    {"Name": "validation:accuracy", "Regex": r"validation_accuracy=([0-9.]+)"},
]


def _code(folder: Path, files: dict[str, str]) -> str:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return str(folder)


def _object(session: Session, uri: str) -> bytes:
    parsed = S3Uri.parse(uri)
    return session.s3.client.get_object(Bucket=parsed.bucket, Key=parsed.key)["Body"].read()


def _tar_names(data: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return sorted(tar.getnames())


@pytest.mark.slow
@ANY_STORE
def test_fit_trains_the_sklearn_example_into_model_data(
    session: Session, cancer_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    estimator = Estimator(
        entry_point="train.py",
        source_dir=str(EXAMPLES / "sklearn"),
        hyperparameters={"n-estimators": 20, "max-depth": 4},
        metric_definitions=METRICS,
        sagemaker_session=session,
    )
    estimator.fit({"train": session.upload_data(cancer_data, key_prefix="cancer")})
    assert estimator.latest_training_job is not None
    name = estimator.latest_training_job.name
    assert estimator.model_data == f"s3://kiln-default/{name}/output/model.tar.gz"
    assert _tar_names(_object(session, estimator.model_data)) == ["model.joblib"]
    metrics = {
        m["MetricName"]: m["Value"]
        for m in estimator.latest_training_job.describe()["FinalMetricDataList"]
    }
    assert metrics["validation:accuracy"] > 0.85
    out = capsys.readouterr().out
    assert "validation_accuracy=" in out
    assert "Completed - Training job completed" in out


def test_fit_sends_the_request_sagemaker_sdk_v2_sends(session: Session, tmp_path: Path) -> None:
    source = _code(tmp_path / "src", {"train.py": "print('hi')\n", "lib/util.py": ""})
    (tmp_path / "src" / "__pycache__").mkdir()
    (tmp_path / "src" / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"\0")
    estimator = Estimator(
        "train.py",
        source_dir=source,
        hyperparameters={"epochs": 3, "name": "abc"},
        checkpoint_s3_uri="s3://ckpt/run",
        environment={"MODE": "test"},
        sagemaker_session=session,
    )
    estimator.fit("s3://kiln-default/data", wait=False)
    assert estimator.latest_training_job is not None
    job = estimator.latest_training_job.describe()
    name = job["TrainingJobName"]
    assert re.fullmatch(r"kiln-training-\d{4}(-\d{2}){5}-\d{3}", name)
    source_uri = f"s3://kiln-default/{name}/source/sourcedir.tar.gz"
    assert job["HyperParameters"] == {
        "epochs": "3",
        "name": '"abc"',
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": json.dumps(source_uri),
        "sagemaker_container_log_level": "20",
        "sagemaker_job_name": json.dumps(name),
        "sagemaker_region": '"us-east-1"',
    }
    assert job["AlgorithmSpecification"]["TrainingImage"] == "kiln/python"
    assert job["RoleArn"] == "arn:aws:iam::000000000000:role/kiln"
    assert job["OutputDataConfig"]["S3OutputPath"] == "s3://kiln-default/"
    assert job["InputDataConfig"][0]["ChannelName"] == "training"
    assert job["CheckpointConfig"]["S3Uri"] == "s3://ckpt/run"
    assert job["Environment"] == {"MODE": "test"}
    assert _tar_names(_object(session, source_uri)) == ["lib/util.py", "train.py"]


@pytest.mark.slow
def test_fit_of_a_lone_entry_point_waits_for_completion(session: Session, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text("import os\nopen(os.environ['SM_MODEL_DIR'] + '/m.txt', 'w').write('x')\n")
    estimator = Estimator(str(script), base_job_name="lone", sagemaker_session=session)
    estimator.fit(wait=True, logs=False)
    assert estimator.latest_training_job is not None
    assert estimator.latest_training_job.describe()["TrainingJobStatus"] == "Completed"
    assert estimator.latest_training_job.name.startswith("lone-")


@pytest.mark.slow
def test_fit_raises_with_the_failure_reason_when_the_script_fails(
    session: Session, tmp_path: Path
) -> None:
    source = _code(tmp_path, {"train.py": "raise ValueError('the labels are missing')\n"})
    estimator = Estimator("train.py", source_dir=source, sagemaker_session=session)
    with pytest.raises(UnexpectedStatusError) as caught:
        estimator.fit(job_name="fails-1")
    assert caught.value.status == "Failed"
    assert caught.value.failure_reason is not None
    assert "ValueError: the labels are missing" in caught.value.failure_reason
    assert "fails-1: Failed. Reason: AlgorithmError" in str(caught.value)


@pytest.mark.slow
def test_attach_recreates_the_estimator_of_a_finished_job(session: Session, tmp_path: Path) -> None:
    source = _code(tmp_path, {"train.py": "print('done')\n"})
    original = Estimator(
        "train.py",
        source_dir=source,
        hyperparameters={"epochs": 3, "rate": 0.5},
        metric_definitions=METRICS,
        base_job_name="attach-me",
        sagemaker_session=session,
    )
    original.fit(logs=False)
    assert original.latest_training_job is not None
    name = original.latest_training_job.name
    attached = Estimator.attach(name, sagemaker_session=session)
    assert attached.latest_training_job is not None
    assert attached.latest_training_job.name == name
    assert attached.hyperparameters() == original.hyperparameters()
    assert attached.entry_point == "train.py"
    assert attached.base_job_name == "attach-me"
    assert attached.metric_definitions == METRICS
    assert attached.model_data == original.model_data


def test_model_data_before_fit_raises_not_trained(session: Session) -> None:
    with pytest.raises(NotTrainedError, match="no training job yet"):
        _ = Estimator("train.py", sagemaker_session=session).model_data


def test_upload_data_of_a_folder_keeps_its_layout(session: Session, tmp_path: Path) -> None:
    _code(tmp_path / "set", {"a.csv": "1,2\n", "more/b.csv": "3,4\n"})
    uri = session.upload_data(tmp_path / "set", key_prefix="datasets/set/")
    assert uri == "s3://kiln-default/datasets/set"
    assert sorted(session.s3.keys(S3Uri.parse(uri))) == [
        ("datasets/set/a.csv", 4),
        ("datasets/set/more/b.csv", 4),
    ]


def test_upload_data_of_a_file_answers_the_file_uri(session: Session, tmp_path: Path) -> None:
    (tmp_path / "one.csv").write_text("1,2\n")
    uri = session.upload_data(tmp_path / "one.csv", bucket="mine")
    assert uri == "s3://mine/data/one.csv"
    assert _object(session, uri) == b"1,2\n"


@pytest.mark.slow
def test_logs_for_job_without_wait_prints_the_log_so_far(
    session: Session, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _code(tmp_path, {"train.py": "print('line one')\nprint('line two')\n"})
    Estimator("train.py", source_dir=source, sagemaker_session=session).fit(job_name="printer")
    capsys.readouterr()
    session.logs_for_job("printer", wait=False)
    assert "line one\nline two\n" in capsys.readouterr().out
