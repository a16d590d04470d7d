"""``estimator.deploy()``, ``kiln.Model`` and ``kiln.Predictor`` against a real server."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from botocore.exceptions import ClientError
from sklearn.datasets import load_breast_cancer

from conftest import EXAMPLES, Kiln, sklearn_model_files, upload_model
from kiln import Estimator, LocalPredictor, Model, Predictor, Session, UnexpectedStatusError
from kiln.sdk.serializers import NumpyDeserializer, NumpySerializer
from kiln.storage import S3Uri

pytestmark = pytest.mark.slow

ROWS = load_breast_cancer().data[[0, 20]].tolist()  # classes 0 and 1
GREETER = """
import json
from greetings import greeting
def model_fn(model_dir):
    return greeting()
def transform_fn(model, data, content_type, accept):
    return json.dumps({"said": model, "to": json.loads(data)}), "application/json"
"""


@pytest.fixture
def trained(session: Session, cancer_data: Path) -> Estimator:
    """The sklearn example trained on the breast-cancer data through the server."""
    estimator = Estimator(
        entry_point="train.py",
        source_dir=str(EXAMPLES / "sklearn"),
        hyperparameters={"n-estimators": 10, "max-depth": 4},
        base_job_name="hosting",
        sagemaker_session=session,
    )
    estimator.fit({"train": session.upload_data(cancer_data)}, logs=False)
    return estimator


def _gone(call: Callable[[], object]) -> bool:
    try:
        call()
    except ClientError as e:
        return "Could not find" in e.response["Error"]["Message"]
    return False


def test_estimator_deploy_serves_the_training_code_then_delete_removes_it(
    trained: Estimator, kiln: Kiln
) -> None:
    predictor = trained.deploy(initial_instance_count=1, instance_type="ml.m5.large")
    assert predictor.predict(ROWS) == [0, 1]
    sm = kiln.sagemaker
    name = predictor.endpoint_name
    assert name.startswith("hosting-")
    environment = sm.describe_model(ModelName=name)["PrimaryContainer"]["Environment"]
    job = trained.latest_training_job
    assert job is not None
    sent = job.describe()["HyperParameters"]
    assert environment["SAGEMAKER_PROGRAM"] == "train.py"
    assert environment["SAGEMAKER_SUBMIT_DIRECTORY"] == json.loads(
        sent["sagemaker_submit_directory"]
    )
    predictor.delete_endpoint()
    predictor.delete_model()
    assert _gone(lambda: sm.describe_endpoint(EndpointName=name))
    assert _gone(lambda: sm.describe_endpoint_config(EndpointConfigName=name))
    assert _gone(lambda: sm.describe_model(ModelName=name))


def test_estimator_deploy_takes_an_entry_point_from_the_training_code(
    trained: Estimator,
) -> None:
    predictor = trained.deploy(entry_point="inference.py", endpoint_name="with-probabilities")
    try:
        answer = predictor.predict(ROWS)
    finally:
        predictor.delete_endpoint()
    assert answer["predictions"] == [0, 1]
    assert answer["probabilities"][0] < 0.5 < answer["probabilities"][1]


def test_estimator_deploys_locally_from_the_store(trained: Estimator, kiln: Kiln) -> None:
    predictor = trained.deploy(instance_type="local")
    try:
        assert isinstance(predictor, LocalPredictor)
        assert predictor.predict(ROWS) == [0, 1]
    finally:
        predictor.delete_endpoint()
    assert kiln.sagemaker.list_endpoints()["Endpoints"] == []


def test_model_ships_entry_point_and_source_dir_as_sourcedir_tarball(
    session: Session, kiln: Kiln, tmp_path: Path
) -> None:
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    (code_dir / "serve.py").write_text(GREETER)
    (code_dir / "greetings.py").write_text("def greeting():\n    return 'hi'\n")
    model = Model(
        upload_model(kiln, {"weights.bin": b"\x00"}),
        entry_point="serve.py",
        source_dir=str(code_dir),
        name="greeter",
        sagemaker_session=session,
    )
    predictor = model.deploy(endpoint_name="greeter-ep")
    try:
        assert predictor.predict({"name": "kiln"}) == {"said": "hi", "to": {"name": "kiln"}}
    finally:
        predictor.delete_endpoint()
    environment = kiln.sagemaker.describe_model(ModelName="greeter")["PrimaryContainer"][
        "Environment"
    ]
    assert environment["SAGEMAKER_PROGRAM"] == "serve.py"
    code = S3Uri.parse(environment["SAGEMAKER_SUBMIT_DIRECTORY"])
    assert code == S3Uri("kiln-default", "greeter/sourcedir.tar.gz")
    archive = kiln.s3.get_object(Bucket=code.bucket, Key=code.key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert sorted(tar.getnames()) == ["greetings.py", "serve.py"]


def test_model_uploads_local_model_data_before_creating_the_model(
    session: Session, kiln: Kiln, tmp_path: Path
) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    for name, content in sklearn_model_files().items():
        (model_dir / name).write_bytes(content)
    model = Model(str(model_dir), name="from-folder", sagemaker_session=session)
    predictor = model.deploy()
    try:
        assert predictor.predict(ROWS) == [0, 1]
    finally:
        predictor.delete_endpoint()
    assert model.model_data == "s3://kiln-default/from-folder/model.tar.gz"
    archive = kiln.s3.get_object(Bucket="kiln-default", Key="from-folder/model.tar.gz")
    with tarfile.open(fileobj=io.BytesIO(archive["Body"].read())) as tar:
        assert tar.getnames() == ["model.joblib"]
    described = kiln.sagemaker.describe_model(ModelName="from-folder")
    assert described["PrimaryContainer"]["ModelDataUrl"] == model.model_data


def test_numpy_serializers_send_and_read_npy(session: Session, kiln: Kiln) -> None:
    model = Model(upload_model(kiln, sklearn_model_files()), sagemaker_session=session)
    predictor = model.deploy(serializer=NumpySerializer(), deserializer=NumpyDeserializer())
    try:
        answer = predictor.predict(np.array(ROWS))
    finally:
        predictor.delete_endpoint()
    assert isinstance(answer, np.ndarray)
    assert answer.tolist() == [0, 1]


def test_a_failed_endpoint_raises_with_its_failure_reason(
    session: Session, kiln: Kiln, tmp_path: Path
) -> None:
    (tmp_path / "inference.py").write_text("raise ImportError('torch is not installed')\n")
    model = Model(
        upload_model(kiln, {"weights.bin": b"\x00"}),
        entry_point=str(tmp_path / "inference.py"),
        sagemaker_session=session,
    )
    with pytest.raises(UnexpectedStatusError) as caught:
        model.deploy(endpoint_name="broken")
    assert caught.value.status == "Failed"
    assert caught.value.failure_reason is not None
    assert "ImportError: torch is not installed" in caught.value.failure_reason
    assert str(caught.value).startswith("Error hosting endpoint broken: Failed. Reason: ")


def test_a_model_error_reaches_the_caller_as_client_error(session: Session, kiln: Kiln) -> None:
    model = Model(upload_model(kiln, sklearn_model_files()), sagemaker_session=session)
    predictor = model.deploy()
    try:
        with pytest.raises(ClientError) as caught:
            predictor.predict([[1.0, 2.0]])
    finally:
        predictor.delete_endpoint()
    assert caught.value.response["Error"]["Code"] == "ModelError"
    assert "X has 2 features" in caught.value.response["Error"]["Message"]


def test_predictor_by_name_reaches_an_existing_endpoint_and_can_keep_its_config(
    session: Session, kiln: Kiln
) -> None:
    Model(
        upload_model(kiln, sklearn_model_files()), name="named", sagemaker_session=session
    ).deploy(wait=False)
    session.wait_for_endpoint("named")
    predictor = Predictor("named", sagemaker_session=session)
    assert predictor.predict(ROWS, target_variant="AllTraffic") == [0, 1]
    predictor.delete_endpoint(delete_endpoint_config=False)
    assert kiln.sagemaker.describe_endpoint_config(EndpointConfigName="named")
    predictor.delete_model()
    assert _gone(lambda: kiln.sagemaker.describe_model(ModelName="named"))


def test_deploy_with_a_source_tarball_on_disk(session: Session, model_tarball: Path) -> None:
    predictor = Model(str(model_tarball), sagemaker_session=session).deploy()
    try:
        assert predictor.predict(ROWS) == [0, 1]
    finally:
        predictor.delete_endpoint()
