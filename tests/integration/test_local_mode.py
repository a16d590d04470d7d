"""Local mode: ``deploy(instance_type="local")`` serves from this machine with no server at all."""

from __future__ import annotations

import gc
import os
import socket
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer

from conftest import EXAMPLES
from kiln import LocalPredictor, Model, ModelError, ReplicaExitedError
from kiln.errors import ValidationError
from kiln.sdk.serializers import CSVDeserializer, CSVSerializer

pytestmark = pytest.mark.slow

ROWS = load_breast_cancer().data[[0, 20]].tolist()  # classes 0 and 1
ECHO = """
import json
def model_fn(model_dir):
    return open(f"{model_dir}/greeting.txt").read()
def transform_fn(model, data, content_type, accept):
    return json.dumps({"greeting": model, "got": json.loads(data)}), "application/json"
"""


def _is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_local_deploy_predicts_without_a_server_or_kiln_home(model_tarball: Path) -> None:
    predictor = Model(str(model_tarball)).deploy(instance_type="local")
    try:
        assert isinstance(predictor, LocalPredictor)
        assert predictor.predict(ROWS) == [0, 1]
        assert predictor.predict({"inputs": ROWS}) == {"predictions": [0, 1]}
    finally:
        predictor.delete_endpoint()
    assert not Path(os.environ["KILN_HOME"]).exists()  # no settings, keys or store were needed


def test_delete_endpoint_stops_the_replica_and_removes_its_files(model_tarball: Path) -> None:
    predictor = Model(f"file://{model_tarball}").deploy(instance_type="local")
    assert isinstance(predictor, LocalPredictor)
    predictor.delete_endpoint()
    assert predictor.replica.process.returncode is not None
    assert not predictor.replica.workdir.exists()
    with pytest.raises(ValidationError, match="was deleted"):
        predictor.predict(ROWS)


def test_csv_in_and_out_through_the_serializers(model_tarball: Path) -> None:
    predictor = Model(str(model_tarball)).deploy(
        instance_type="local", serializer=CSVSerializer(), deserializer=CSVDeserializer()
    )
    try:
        assert predictor.predict(ROWS) == [["0"], ["1"]]
    finally:
        predictor.delete_endpoint()


def test_entry_point_in_source_dir_serves_custom_code(tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "greeting.txt").write_text("hello")
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "serve.py").write_text(ECHO)
    model = Model(
        str(tmp_path / "model"), entry_point="serve.py", source_dir=str(tmp_path / "code")
    )
    predictor = model.deploy(instance_type="local")
    try:
        assert predictor.predict([1, 2]) == {"greeting": "hello", "got": [1, 2]}
    finally:
        predictor.delete_endpoint()


def test_the_sklearn_example_inference_script_serves_the_model(model_tarball: Path) -> None:
    model = Model(str(model_tarball), entry_point=str(EXAMPLES / "sklearn" / "inference.py"))
    predictor = model.deploy(instance_type="local")
    try:
        answer = predictor.predict(ROWS)
    finally:
        predictor.delete_endpoint()
    assert answer["predictions"] == [0, 1]
    assert answer["probabilities"][0] < 0.5 < answer["probabilities"][1]


def test_a_model_that_fails_to_load_raises_with_the_replica_failure(tmp_path: Path) -> None:
    (tmp_path / "inference.py").write_text("raise RuntimeError('no weights here')\n")
    model = Model(str(tmp_path), entry_point=str(tmp_path / "inference.py"))
    with pytest.raises(ReplicaExitedError) as caught:
        model.deploy(instance_type="local")
    assert str(caught.value) == "The local replica failed to start: RuntimeError: no weights here"
    assert caught.value.returncode == 2


def test_a_model_error_raises_model_error_with_the_replica_message(model_tarball: Path) -> None:
    predictor = Model(str(model_tarball)).deploy(instance_type="local")
    try:
        with pytest.raises(ModelError) as caught:
            predictor.predict([[1.0, 2.0]])
    finally:
        predictor.delete_endpoint()
    assert caught.value.status_code == 500
    assert "X has 2 features" in str(caught.value)


def test_a_replica_that_dies_while_serving_is_reported(model_tarball: Path) -> None:
    predictor = Model(str(model_tarball)).deploy(instance_type="local")
    assert isinstance(predictor, LocalPredictor)
    try:
        predictor.predict(ROWS)
        predictor.replica.process.kill()
        predictor.replica.process.wait()
        with pytest.raises(ReplicaExitedError, match="exited with code -9"):
            predictor.predict(ROWS)
    finally:
        predictor.delete_endpoint()


def test_a_dropped_predictor_stops_its_replica(model_tarball: Path) -> None:
    predictor = Model(str(model_tarball)).deploy(instance_type="local")
    assert isinstance(predictor, LocalPredictor)
    pid, port = predictor.replica.process.pid, predictor.replica.port
    del predictor
    gc.collect()
    assert _is_gone(pid)
    with pytest.raises(ConnectionRefusedError), socket.create_connection(("127.0.0.1", port)):
        pass


def test_missing_model_data_is_a_validation_error(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="neither a folder nor a file"):
        Model(str(tmp_path / "nope.tar.gz")).deploy(instance_type="local")


def test_only_the_alltraffic_variant_exists_locally(model_tarball: Path) -> None:
    predictor = Model(str(model_tarball)).deploy(instance_type="local")
    try:
        assert predictor.predict(ROWS, target_variant="AllTraffic") == [0, 1]
        with pytest.raises(ValidationError, match="one variant"):
            predictor.predict(ROWS, target_variant="B")
    finally:
        predictor.delete_endpoint()
