"""Kiln end to end in well under a minute: ``make demo``.

Starts an embedded Kiln server (API + S3 store) in ``.kiln-demo/``, uploads scikit-learn's
breast-cancer data set as CSV, trains ``examples/sklearn/train.py`` with ``kiln.Estimator`` (the
sagemaker SDK's interface), prints the job's metrics and model artifact, loads the model back,
deploys it with ``estimator.deploy()`` to a real-time endpoint, predicts over HTTP, deletes the
endpoint and stops the server. Nothing leaves this machine.
"""

from __future__ import annotations

import socket
import tarfile
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.datasets import load_breast_cancer

import kiln
from kiln.config import Settings
from kiln.sdk.serializers import JSONDeserializer, JSONSerializer
from kiln.server import ServerThread
from kiln.storage import S3Uri

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".kiln-demo"
METRICS = [
    {"Name": "train:accuracy", "Regex": r"train_accuracy=([0-9.]+)"},
    {"Name": "validation:accuracy", "Regex": r"validation_accuracy=([0-9.]+)"},
]

STEPS = 7
SAMPLE_ROWS = np.arange(0, 569, 71)  # a spread of both classes

console = Console(highlight=False, soft_wrap=True)


def step(number: int, text: str) -> None:
    """Print a numbered step of the narration."""
    console.print(f"\n[bold cyan]{number}/{STEPS}[/] [bold]{text}[/]")


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_dataset(folder: Path) -> Path:
    """The breast-cancer data set (shipped with scikit-learn) as CSV, label column first."""
    data = load_breast_cancer()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "breast_cancer.csv"
    header = ",".join(["target", *data.feature_names])
    rows = np.column_stack([data.target, data.data])
    np.savetxt(path, rows, delimiter=",", header=header, comments="", fmt="%.10g")
    console.print(f"    {len(rows)} rows, {data.data.shape[1]} features → {path}")
    return folder


def show_results(estimator: kiln.Estimator) -> str:
    """Print the job's final metrics and artifact; the model's URI."""
    assert estimator.latest_training_job is not None  # fit() has run
    job = estimator.latest_training_job.describe()
    console.print(f"    training job {job['TrainingJobName']}: {job['TrainingJobStatus']}")
    table = Table("metric", "value")
    for metric in job.get("FinalMetricDataList", []):
        table.add_row(metric["MetricName"], f"{metric['Value']:.4f}")
    console.print(table)
    model_uri = estimator.model_data
    console.print(f"    model artifact: [green]{model_uri}[/]")
    return model_uri


def load_model_back(session: kiln.Session, model_uri: str) -> None:
    """Download model.tar.gz through S3, unpack it and predict a few rows with it."""
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "model.tar.gz"
        session.s3.download_file(S3Uri.parse(model_uri), archive)
        with tarfile.open(archive) as tar:
            console.print(f"    model.tar.gz holds: {', '.join(tar.getnames())}")
            tar.extractall(folder, filter="data")
        model = joblib.load(Path(folder) / "model.joblib")
    data = load_breast_cancer()
    rows = SAMPLE_ROWS
    predicted, truth = model.predict(data.data[rows]).tolist(), data.target[rows].tolist()
    console.print(f"    rows {rows.tolist()}: predicted {predicted}, truth {truth}", markup=False)


def deploy_and_predict(estimator: kiln.Estimator) -> float:
    """Serve the model on an endpoint, predict the sample rows over HTTP; deploy→answer seconds."""
    data = load_breast_cancer()
    started = time.monotonic()
    # train.py is the inference code too (SDK v2's scikit-learn way): it defines no model_fn, so
    # the framework default loads model.joblib and answers {"inputs": rows} with predictions.
    predictor = estimator.deploy(
        initial_instance_count=1,
        instance_type="ml.m5.large",
        serializer=JSONSerializer(),
        deserializer=JSONDeserializer(),
    )
    in_service = time.monotonic() - started
    answer = predictor.predict({"inputs": data.data[SAMPLE_ROWS]})
    first_prediction = time.monotonic() - started
    console.print(f"    endpoint {predictor.endpoint_name}: InService after {in_service:.2f} s")
    for replica in predictor.sagemaker_session.describe_endpoint_replicas(predictor.endpoint_name):
        phases = ", ".join(f"{k} {v:.2f} s" for k, v in replica["Phases"].items())
        console.print(f"    replica {replica['ReplicaId']} started: {phases}", markup=False)
    truth = data.target[SAMPLE_ROWS].tolist()
    console.print(
        f"    POST /endpoints/{predictor.endpoint_name}/invocations → {answer}, truth {truth}",
        markup=False,
    )
    console.print(f"    deploy() → first prediction: [bold green]{first_prediction:.2f} s[/]")
    step(7, "Delete the endpoint (predictor.delete_endpoint(), predictor.delete_model())")
    predictor.delete_endpoint()
    predictor.delete_model()
    console.print(f"    endpoint {predictor.endpoint_name}, its config and model are deleted")
    return first_prediction


def main() -> None:
    """Run the demo."""
    started = time.monotonic()
    step(1, "Start an embedded Kiln server")
    settings = Settings.from_env(
        {"KILN_HOME": str(HOME), "KILN_PORT": str(free_port()), "KILN_S3_PORT": str(free_port())}
    )
    server = ServerThread(settings).start()
    console.print(f"    KILN_HOME {settings.home}")
    console.print(f"    SageMaker API {settings.endpoint}, S3 store {settings.s3_endpoint_url}")
    try:
        session = kiln.Session(settings)
        step(2, "Write the breast-cancer data set as CSV and upload it with Session.upload_data")
        data_uri = session.upload_data(
            write_dataset(HOME / "demo-data"), key_prefix="demo/breast-cancer"
        )
        console.print(f"    training data: [green]{data_uri}[/]")
        step(3, "Train examples/sklearn/train.py with kiln.Estimator (live log below)")
        estimator = kiln.Estimator(
            entry_point="train.py",
            source_dir=str(ROOT / "examples" / "sklearn"),
            hyperparameters={"n-estimators": 100, "max-depth": 5},
            metric_definitions=METRICS,
            base_job_name="demo-breast-cancer",
            sagemaker_session=session,
        )
        estimator.fit({"train": data_uri})
        step(4, "Read the results back through the SageMaker API")
        model_uri = show_results(estimator)
        step(5, "Load the trained model from the store and predict")
        load_model_back(session, model_uri)
        step(6, "Deploy it to a real-time endpoint with estimator.deploy() and predict over HTTP")
        deploy_and_predict(estimator)
    finally:
        server.stop()
    console.print(
        f"\n[bold green]Done in {time.monotonic() - started:.1f} s.[/] The server is stopped; "
        f"its jobs and data stay in {HOME} (KILN_HOME={HOME} kiln server brings them back)."
    )


if __name__ == "__main__":
    main()
