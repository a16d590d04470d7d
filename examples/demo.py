"""Kiln end to end in about a minute: ``make demo``.

Starts an embedded Kiln server (API + S3 store) in ``.kiln-demo/``, uploads scikit-learn's
breast-cancer data set as CSV, trains ``examples/sklearn/train.py`` with ``kiln.Estimator`` (the
sagemaker SDK's interface), prints the job's metrics and model artifact, loads the model back,
deploys it with ``estimator.deploy()`` to a real-time endpoint and predicts over HTTP. Then it
runs an A/B test in production: two challengers are trained, the endpoint is updated (blue/green)
to split traffic between the champion and one challenger while the other shadows it, with data
capture on; labelled traffic is sent with ground truth fed back, and the A/B report, the captured
records and the endpoint's metrics are printed. Then a burst of traffic scales the Champion
variant out and back in (Application Auto Scaling, target tracking). Then Model Monitor closes
the seed's cycle: the baseline the first training job wrote as a side effect, a retraining rule
(a webhook on 127.0.0.1 and a training job template) on the endpoint's data-quality schedule,
traffic with two features shifted by one standard deviation (and the same rows uploaded as new
training data), a one-time (``NOW``) monitoring run that ends ``CompletedWithViolations`` with
its violations and per-feature drift, the webhook's POST and the retraining job it started, and
the retrained model rolled out behind a canary. Last it deletes what it made and stops the
server. Nothing leaves this machine.
"""

from __future__ import annotations

import json
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import joblib
import numpy as np
from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table
from sklearn.datasets import load_breast_cancer

import kiln
from kiln.cli import report_table
from kiln.config import Settings
from kiln.ports import free_port
from kiln.sdk.metrics import endpoint_metrics
from kiln.sdk.retraining import (
    create_retraining_rule,
    delete_retraining_rule,
    list_retraining_firings,
    on_schedule,
)
from kiln.sdk.serializers import JSONDeserializer, JSONSerializer
from kiln.server import ServerThread
from kiln.services.monitoring.report import AbReport
from kiln.storage import S3Uri

ROOT = Path(__file__).resolve().parent.parent
HOME = ROOT / ".kiln-demo"
METRICS = [
    {"Name": "train:accuracy", "Regex": r"train_accuracy=([0-9.]+)"},
    {"Name": "validation:accuracy", "Regex": r"validation_accuracy=([0-9.]+)"},
]

T = TypeVar("T")
STEPS = 13
BURST_THREADS = 8
TRAFFIC = 300  # labelled requests per test, one row each
SAMPLE_ROWS = np.arange(0, 569, 71)  # a spread of both classes
SHIFTED = (3, 7)  # the features the drifted traffic moves by one standard deviation
DRIFTED_ROWS = 300
NEW_DATA = "new-customers.csv"  # the drifted rows, labelled, as new data under the training prefix

console = Console(highlight=False, soft_wrap=True)


def step(number: int, text: str) -> None:
    """Print a numbered step of the narration."""
    console.print(f"\n[bold cyan]{number}/{STEPS}[/] [bold]{text}[/]")


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


def deploy_and_predict(estimator: kiln.Estimator) -> kiln.Predictor:
    """Serve the model on an endpoint, predict the sample rows over HTTP; the predictor."""
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
    return predictor


def train_challengers(session: kiln.Session, data_uri: str) -> dict[str, str]:
    """Two smaller forests trained side by side; variant name → model artifact."""
    settings = {"Shadow": (10, 2), "Challenger": (3, 1)}
    estimators = {}
    for variant, (trees, depth) in settings.items():
        estimator = kiln.Estimator(
            entry_point="train.py",
            source_dir=str(ROOT / "examples" / "sklearn"),
            hyperparameters={"n-estimators": trees, "max-depth": depth},
            base_job_name=f"demo-{variant.lower()}",
            sagemaker_session=session,
        )
        estimator.fit({"train": data_uri}, wait=False)
        estimators[variant] = estimator
        console.print(f"    {variant}: {trees} trees of depth {depth}")
    artifacts = {}
    for variant, estimator in estimators.items():
        assert estimator.latest_training_job is not None
        estimator.latest_training_job.wait(logs=False)
        artifacts[variant] = estimator.model_data
        console.print(f"    {variant} model: [green]{artifacts[variant]}[/]")
    return artifacts


def create_models(session: kiln.Session, endpoint: str, artifacts: dict[str, str]) -> None:
    """One model per challenger: the champion's container with the challenger's artifact."""
    sagemaker = session.sagemaker_client
    champion = sagemaker.describe_model(ModelName=endpoint)
    for name, artifact in artifacts.items():
        sagemaker.create_model(
            ModelName=f"{endpoint}-{name.lower()}",
            PrimaryContainer={**champion["PrimaryContainer"], "ModelDataUrl": artifact},
            ExecutionRoleArn=champion["ExecutionRoleArn"],
        )


def _variant(name: str, model: str) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "InitialInstanceCount": 1,
            "InstanceType": "ml.m5.large", "InitialVariantWeight": 1.0}  # fmt: skip


def update_endpoint(session: kiln.Session, endpoint: str, config: str, **request: Any) -> None:
    """Create ``config`` and switch the endpoint to it (blue/green), narrating how long it took."""
    sagemaker = session.sagemaker_client
    sagemaker.create_endpoint_config(EndpointConfigName=config, **request)
    started = time.monotonic()
    sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=config)
    session.wait_for_endpoint(endpoint)
    console.print(
        f"    UpdateEndpoint → {config}: InService again after {time.monotonic() - started:.1f} s"
        " (the old replicas served until the new ones were ready)"
    )


def start_shadow_test(session: kiln.Session, endpoint: str) -> str:
    """Champion serves, the Shadow model gets a copy of every request; capture on. Its URI."""
    capture_uri = f"s3://{session.default_bucket()}/demo/capture"
    update_endpoint(
        session,
        endpoint,
        f"{endpoint}-shadow-test",
        ProductionVariants=[_variant("Champion", endpoint)],
        ShadowProductionVariants=[_variant("Shadow", f"{endpoint}-shadow")],
        DataCaptureConfig={
            "EnableCapture": True,
            "InitialSamplingPercentage": 100,
            "DestinationS3Uri": capture_uri,
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"JsonContentTypes": ["application/json"]},
        },
    )
    console.print(f"    Champion answers; Shadow gets copies; capture 100 % → {capture_uri}")
    return capture_uri


def start_ab_test(session: kiln.Session, endpoint: str) -> None:
    """Champion and Challenger split live traffic 50/50."""
    update_endpoint(
        session,
        endpoint,
        f"{endpoint}-ab-test",
        ProductionVariants=[
            _variant("Champion", endpoint),
            _variant("Challenger", f"{endpoint}-challenger"),
        ],
    )
    console.print("    Champion 50 % / Challenger 50 % (capture off: this config has none)")


def send_labelled_traffic(session: kiln.Session, endpoint: str, first: int) -> None:
    """One row per request with an InferenceId, then the true labels as feedback."""
    data = load_breast_cancer()
    runtime = session.sagemaker_runtime_client
    rows = np.random.default_rng(first).integers(0, len(data.target), TRAFFIC)
    served: dict[str, int] = {}
    started = time.monotonic()
    for number, row in enumerate(rows, start=first):
        answer = runtime.invoke_endpoint(
            EndpointName=endpoint,
            Body=json.dumps({"inputs": [data.data[row].tolist()]}),
            ContentType="application/json",
            InferenceId=f"demo-{number}",
        )
        variant = answer["InvokedProductionVariant"]
        served[variant] = served.get(variant, 0) + 1
    seconds = time.monotonic() - started
    shares = ", ".join(f"{v} {n}" for v, n in sorted(served.items()))
    console.print(f"    {TRAFFIC} requests in {seconds:.1f} s, answered by {shares}")
    labels = {f"demo-{n}": int(data.target[row]) for n, row in enumerate(rows, start=first)}
    accepted, location = 0, None
    deadline = time.monotonic() + 10
    # The inference log writes in batches off the request path: ids it has not written yet are
    # refused as unknown, so those are sent again a moment later.
    while labels and time.monotonic() < deadline:
        result = kiln.send_ground_truth(endpoint, labels, session)
        accepted, location = accepted + result.accepted, result.location or location
        labels = {r.inference_id: labels[r.inference_id] for r in result.rejected}
        time.sleep(0.2 if labels else 0)
    console.print(f"    ground truth for {accepted} inference ids → [green]{location}[/]")


def show_what_was_learned(session: kiln.Session, endpoint: str, capture_uri: str) -> None:
    """The A/B report, one captured record and its file, and the endpoint's metrics."""
    report = wait_for_report(session, endpoint)
    console.print(report_table(report))
    console.print(f"    verdict: [bold]{report.verdict}[/]")
    files = wait_for_captured_files(session, endpoint, capture_uri)
    console.print(f"    {len(files)} capture file(s), e.g. [green]{files[0]}[/]")
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "capture.jsonl"
        session.s3.download_file(S3Uri.parse(files[0]), path)
        first = json.loads(path.read_text().splitlines()[0])
    console.print(Syntax(json.dumps(first, indent=2)[:900], "json", theme="ansi_dark"))
    table = Table("variant", "instances", "invocations/min", "p50 ms", "p99 ms", "errors")
    for metrics in endpoint_metrics(endpoint, session, minutes=5):
        table.add_row(
            metrics.variant,
            str(metrics.instances),
            f"{metrics.invocations_per_minute:.0f}",
            _ms(metrics.latency_p50_ms),
            _ms(metrics.latency_p99_ms),
            str(metrics.client_errors + metrics.server_errors),
        )
    console.print("    CloudWatch metrics (namespace AWS/SageMaker, kiln endpoints metrics NAME):")
    console.print(table)


def wait_for_report(session: kiln.Session, endpoint: str) -> AbReport:
    """The report once the inference log has every labelled prediction (it writes in batches)."""

    def labelled(report: AbReport) -> int:
        return sum(v.labelled for v in report.variants if not v.is_shadow)

    report, _ = _poll(
        lambda: kiln.compare_variants(endpoint, session=session),
        lambda report: labelled(report) >= 2 * TRAFFIC,
        timeout=30,
        pause=0.2,
    )
    return report


def wait_for_captured_files(session: kiln.Session, endpoint: str, capture_uri: str) -> list[str]:
    """The capture files of ``endpoint`` (the writer flushes on update; a minute at most)."""
    prefix = S3Uri.parse(f"{capture_uri}/{endpoint}/")
    files, _ = _poll(
        lambda: [f"s3://{prefix.bucket}/{key}" for key, _ in session.s3.keys(prefix)],
        bool,
        timeout=90,
        pause=0.5,
    )
    return files


def _poll(
    fetch: Callable[[], T], done: Callable[[T], bool], timeout: float, pause: float = 0.1
) -> tuple[T, float]:
    """``fetch()`` until ``done`` says so or ``timeout`` passes: the last answer, and when."""
    deadline = time.monotonic() + timeout
    while True:
        answer = fetch()
        if done(answer) or time.monotonic() > deadline:
            return answer, time.monotonic()
        time.sleep(pause)


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def autoscale_a_burst(session: kiln.Session, endpoint: str) -> None:
    """Register Champion for autoscaling, send a burst, and narrate the scale-out and scale-in."""
    resource = f"endpoint/{endpoint}/variant/Champion"
    scope = {
        "ServiceNamespace": "sagemaker",
        "ResourceId": resource,
        "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
    }
    scaling = session.autoscaling_client
    scaling.register_scalable_target(**scope, MinCapacity=1, MaxCapacity=2)
    scaling.put_scaling_policy(
        PolicyName="invocations",
        PolicyType="TargetTrackingScaling",
        **scope,
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 600.0,  # invocations per instance per minute: 10 a second
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleOutCooldown": 0,
            "ScaleInCooldown": 5,
        },
    )
    console.print("    Champion: 1–2 instances, target 600 invocations per instance a minute")
    stop = threading.Event()
    body = json.dumps({"inputs": [load_breast_cancer().data[0].tolist()]})
    runtime = session.sagemaker_runtime_client

    def send() -> tuple[int, int]:
        sent = failed = 0
        while not stop.is_set():
            try:
                runtime.invoke_endpoint(
                    EndpointName=endpoint, TargetVariant="Champion", Body=body,
                    ContentType="application/json",
                )  # fmt: skip
            except Exception:
                failed += 1
            sent += 1
        return sent, failed

    started, started_at = time.monotonic(), time.time()
    with ThreadPoolExecutor(BURST_THREADS) as pool:
        senders = [pool.submit(send) for _ in range(BURST_THREADS)]
        decisions, _ = _poll(lambda: _activities(scaling, resource), bool, timeout=30)
        if decisions:
            decided = decisions[-1]["StartTime"].timestamp() - started_at
            console.print(
                f"    burst of {BURST_THREADS} clients; {decided:.1f} s later the scaler decided: "
                f"{decisions[-1]['Description']}"
            )
        else:
            console.print(f"    burst of {BURST_THREADS} clients; no scaling decision in 30 s")
        serving = _poll(lambda: _champion_count(session, endpoint), lambda n: n > 1, timeout=30)
        console.print(
            f"    {serving[0]} instances serving {serving[1] - started:.1f} s after the burst began"
            " (the new one from a warm spare)"
        )
        time.sleep(1.0)  # the new instances take their share for a moment
        stop.set()
        tallies = [sender.result() for sender in senders]
    sent, failed = sum(t[0] for t in tallies), sum(t[1] for t in tallies)
    quiet = time.monotonic()
    back = _poll(lambda: _champion_count(session, endpoint), lambda n: n == 1, timeout=60)
    console.print(
        f"    burst over ({sent} requests, {failed} failed); back to 1 instance "
        f"{back[1] - quiet:.1f} s later (scale-in cooldown 5 s, draining first)"
    )
    for activity in reversed(_activities(scaling, resource)):
        console.print(f"    activity: {activity['Description']} [dim]({activity['Cause']})[/]")
    scaling.deregister_scalable_target(**scope)


def _activities(scaling: Any, resource: str) -> list[dict[str, Any]]:
    """The scaling activities of ``resource``, newest first."""
    answer = scaling.describe_scaling_activities(ServiceNamespace="sagemaker", ResourceId=resource)
    return list(answer["ScalingActivities"])


def _champion_count(session: kiln.Session, endpoint: str) -> int:
    """How many instances serve the Champion variant now."""
    described = session.sagemaker_client.describe_endpoint(EndpointName=endpoint)
    variant = next(v for v in described["ProductionVariants"] if v["VariantName"] == "Champion")
    return int(variant.get("CurrentInstanceCount", 0))


@contextmanager
def part(title: str) -> Iterator[None]:
    """Narrate one part of a step, then the time it took."""
    console.print(f"    [bold]▸ {title}[/]")
    started = time.monotonic()
    yield
    console.print(f"      [dim]… {time.monotonic() - started:.1f} s[/]")


class Webhook:
    """A real HTTP receiver on 127.0.0.1 that keeps every JSON body POSTed to it."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        received = self.bodies

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *_: object) -> None:
                pass  # the demo narrates what arrived, between its own lines

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        """Where the retraining rule posts."""
        return f"http://127.0.0.1:{int(self.server.server_address[1])}/drift"

    def close(self) -> None:
        """Stop listening."""
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Loop:
    """What step 12 creates on the way, for step 13 to delete."""

    endpoint: str
    new_data: str = ""
    configs: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)

    @property
    def schedule(self) -> str:
        """The data-quality schedule's name (and its job definition's)."""
        return f"{self.endpoint}-dq"

    @property
    def rule(self) -> str:
        """The retraining rule's name."""
        return f"{self.endpoint}-retrain"


def close_the_loop(
    session: kiln.Session, estimator: kiln.Estimator, predictor: kiln.Predictor, data_uri: str
) -> Loop:
    """The seed's cycle: the training baseline, drifted traffic, the violation, the retraining
    job it starts and the retrained model rolled out; what was created on the way."""
    assert estimator.latest_training_job is not None  # fit() has run
    job: dict[str, Any] = dict(estimator.latest_training_job.describe())
    loop = Loop(predictor.endpoint_name)
    started = time.monotonic()
    webhook = Webhook()
    try:
        with part("The baseline the training job (step 3) wrote as a side effect"):
            baseline = show_baseline(session, job)
        with part("Capture inputs; a retraining rule on the endpoint's data-quality schedule"):
            capture_inputs(session, loop)
            register_rule(session, job, loop, webhook.url)
        with part("Drifted traffic and new customer data, then Model Monitor once (NOW)"):
            loop.new_data = send_drifted_traffic(session, loop.endpoint, data_uri)
            run = monitor_now(session, loop, baseline, job["RoleArn"])
            show_violations(session, run)
            show_drift(session, loop)
        with part("The webhook's POST and the retraining job the violations started"):
            artifact = show_retraining(session, loop, webhook)
        with part("Roll the retrained model out (a canary first) and predict with it"):
            roll_out(session, predictor, loop, artifact)
    finally:
        webhook.close()
    console.print(f"    the cycle closed in [bold green]{time.monotonic() - started:.1f} s[/]")
    return loop


def show_baseline(session: kiln.Session, job: dict[str, Any]) -> dict[str, str]:
    """Wait for the job's ``kiln:baseline-*`` tags and describe the baseline; the tags."""
    sagemaker = session.sagemaker_client

    def tags() -> dict[str, str]:
        answer = sagemaker.list_tags(ResourceArn=job["TrainingJobArn"])
        return {tag["Key"]: tag["Value"] for tag in answer["Tags"]}

    # The baseline is computed after the job completes, off its path: usually done by now.
    found, _ = _poll(
        tags, lambda t: t.get("kiln:baseline-status") in ("Completed", "Failed"), 60, 0.2
    )
    if found.get("kiln:baseline-status") != "Completed":
        raise RuntimeError(f"no baseline for {job['TrainingJobName']}: {found}")
    statistics = _read_json(session, found["kiln:baseline-statistics"])
    names = [feature["name"] for feature in statistics["features"]]
    console.print(f"    ListTags {job['TrainingJobName']}: kiln:baseline-status=Completed")
    console.print(f"    statistics  [green]{found['kiln:baseline-statistics']}[/]")
    console.print(f"    constraints [green]{found['kiln:baseline-constraints']}[/]")
    left_out = "the label 'target' left out" if "target" not in names else "with 'target'"
    console.print(
        f"    {len(names)} features of {statistics['dataset']['item_count']} rows ({left_out})"
    )
    return found


def _capture(session: kiln.Session) -> dict[str, Any]:
    """Inputs only, every request, apart from step 8's captures so a window holds just this
    step's traffic."""
    return {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{session.default_bucket()}/demo/monitor-capture",
        "CaptureOptions": [{"CaptureMode": "Input"}],
    }


def capture_inputs(session: kiln.Session, loop: Loop) -> None:
    """Champion alone serves, and its inputs are captured (Model Monitor reads them)."""
    config = f"{loop.endpoint}-monitored"
    update_endpoint(
        session,
        loop.endpoint,
        config,
        ProductionVariants=[_variant("Champion", loop.endpoint)],
        DataCaptureConfig=_capture(session),
    )
    loop.configs.append(config)
    console.print(f"    Champion 100 %, inputs captured → {_capture(session)['DestinationS3Uri']}")


def register_rule(session: kiln.Session, job: dict[str, Any], loop: Loop, url: str) -> None:
    """A rule on the schedule's violations: POST ``url`` and retrain as the step-3 job did."""
    model = session.sagemaker_client.meta.service_model.operation_model("CreateTrainingJob")
    assert model.input_shape is not None  # CreateTrainingJob takes a request
    members = model.input_shape.members
    template = {key: value for key, value in job.items() if key in members}
    template["TrainingJobName"] = "demo-retrained"  # the prefix of each job the rule starts
    create_retraining_rule(
        loop.rule,
        on_schedule(loop.schedule),
        webhook_url=url,
        training_job_template=template,
        session=session,
    )
    console.print(
        f"    rule {loop.rule}: on {loop.schedule}'s violations, POST {url} and start"
        f" CreateTrainingJob from {job['TrainingJobName']}'s request ({len(template)} members)"
    )


def send_drifted_traffic(session: kiln.Session, endpoint: str, data_uri: str) -> str:
    """Rows with two features shifted by one standard deviation, sent to the endpoint and
    uploaded, labelled, as new training data; the new data's URI."""
    data = load_breast_cancer()
    picked = np.random.default_rng(7).integers(0, len(data.target), DRIFTED_ROWS)
    rows = data.data[picked].copy()
    for column in SHIFTED:
        rows[:, column] += data.data[:, column].std()
    runtime = session.sagemaker_runtime_client
    started = time.monotonic()
    for chunk in np.array_split(rows, 30):  # several rows per request, as batch clients send
        runtime.invoke_endpoint(
            EndpointName=endpoint,
            Body=json.dumps({"inputs": chunk.tolist()}),
            ContentType="application/json",
        )
    shifted = " and ".join(f"'{data.feature_names[c]}'" for c in SHIFTED)
    console.print(
        f"    {DRIFTED_ROWS} rows in 30 requests ({time.monotonic() - started:.1f} s),"
        f" {shifted} shifted by one standard deviation"
    )
    labelled = np.column_stack([data.target[picked], rows])
    lines = [",".join(["target", *data.feature_names])]
    lines += [",".join(f"{v:.10g}" for v in row) for row in labelled]
    target = S3Uri.parse(data_uri).join(NEW_DATA)
    session.s3.put_bytes(target, ("\n".join(lines) + "\n").encode())
    console.print(f"    new customer data arrives: the same rows, labelled → [green]{target}[/]")
    return str(target)


def monitor_now(
    session: kiln.Session, loop: Loop, baseline: dict[str, str], role: str
) -> dict[str, Any]:
    """A data-quality job definition on the training baseline and a one-time (``NOW``) schedule
    over the last hour; its finished execution."""
    sagemaker = session.sagemaker_client
    sagemaker.create_data_quality_job_definition(
        JobDefinitionName=loop.schedule,
        DataQualityAppSpecification={"ImageUri": "kiln/model-monitor"},  # Kiln's own analyzer
        DataQualityBaselineConfig={
            "StatisticsResource": {"S3Uri": baseline["kiln:baseline-statistics"]},
            "ConstraintsResource": {"S3Uri": baseline["kiln:baseline-constraints"]},
        },
        DataQualityJobInput={"EndpointInput": {"EndpointName": loop.endpoint,
                                               "LocalPath": "/opt/ml/processing/input"}},
        DataQualityJobOutputConfig={"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"s3://{session.default_bucket()}/demo/monitoring",
            "LocalPath": "/opt/ml/processing/output",
        }}]},
        JobResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                        "VolumeSizeInGB": 1}},
        RoleArn=role,
    )  # fmt: skip
    started = time.monotonic()
    sagemaker.create_monitoring_schedule(
        MonitoringScheduleName=loop.schedule,
        MonitoringScheduleConfig={
            "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                               "DataAnalysisEndTime": "PT0H"},
            "MonitoringJobDefinitionName": loop.schedule,
            "MonitoringType": "DataQuality",
        },
    )  # fmt: skip
    console.print(
        "    CreateDataQualityJobDefinition (the training baseline) + CreateMonitoringSchedule"
        " (NOW, the last hour)"
    )

    def finished() -> dict[str, Any] | None:
        runs = sagemaker.list_monitoring_executions(MonitoringScheduleName=loop.schedule)
        done = [
            dict(run) for run in runs["MonitoringExecutionSummaries"]
            if run["MonitoringExecutionStatus"] not in ("Pending", "InProgress")
        ]  # fmt: skip
        return done[0] if done else None

    run, _ = _poll(finished, lambda run: run is not None, timeout=60, pause=0.2)
    if run is None:
        raise RuntimeError(f"no execution of {loop.schedule} ended within a minute")
    status = run["MonitoringExecutionStatus"]
    console.print(
        f"    execution [bold]{status}[/] {time.monotonic() - started:.1f} s later (it waits for"
        " the captures to reach the store: KILN_CAPTURE_FLUSH_SECONDS + 2 s)"
    )
    if status != "CompletedWithViolations":
        raise RuntimeError(f"expected violations: {status} {run.get('FailureReason', '')}")
    return run


def show_violations(session: kiln.Session, run: dict[str, Any]) -> None:
    """The execution's ``constraint_violations.json``, as a table."""
    job = run["ProcessingJobArn"].split("/")[-1]
    described = session.sagemaker_client.describe_processing_job(ProcessingJobName=job)
    report = described["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    violations = _read_json(session, f"{report}/constraint_violations.json")["violations"]
    console.print(f"    report: [green]{report}/constraint_violations.json[/]")
    table = Table("feature", "check", "description")
    for violation in violations:
        table.add_row(
            violation["feature_name"],
            violation["constraint_check_type"],
            violation["description"],
        )
    console.print(table)


def show_drift(session: kiln.Session, loop: Loop) -> None:
    """The execution's drift metrics per feature, read back with ``kiln.endpoint_timeline``."""
    metrics = ("kiln_feature_psi", "kiln_feature_ks", "kiln_feature_js")

    def features() -> list[tuple[str, list[float | None]]]:
        timeline = kiln.endpoint_timeline(loop.endpoint, since=900, session=session)
        return [
            (feature.feature, [_last(feature.find(metric)) for metric in metrics])
            for feature in timeline.features
            if feature.schedule == loop.schedule
        ]

    found, _ = _poll(features, bool, timeout=10, pause=0.2)
    found.sort(key=lambda item: -(item[1][0] or 0.0))
    table = Table("feature", "PSI", "KS", "JS")
    for name, values in found[:4]:
        table.add_row(name, *(_number(value) for value in values))
    console.print(
        f"    drift per feature, the largest PSI first (4 of {len(found)};"
        f" kiln monitor drift {loop.endpoint} charts them):"
    )
    console.print(table)


def _last(series: Any) -> float | None:
    """A series' newest value; None if it has none."""
    values = [] if series is None else [v for v in series.values() if v is not None]
    return float(values[-1]) if values else None


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def show_retraining(session: kiln.Session, loop: Loop, webhook: Webhook) -> str:
    """What the webhook received, and the retraining job the firing started, waited for; the
    new model's artifact."""
    bodies, _ = _poll(lambda: list(webhook.bodies), bool, timeout=30, pause=0.1)
    if not bodies:
        raise RuntimeError("the webhook received nothing within 30 s")
    body = bodies[0]
    evidence = body["Evidence"]
    started = body.get("TrainingJob", {})
    console.print(
        f"    the webhook received POST /drift: RuleName {body['RuleName']}, FiringId"
        f" {body['FiringId']}, {evidence['MonitoringExecutionStatus']} with"
        f" {evidence['ViolationCount']} violation(s), TrainingJob"
        f" {started.get('TrainingJobName')} {started.get('Status')}",
        markup=False,
    )
    [firing, *_] = list_retraining_firings(loop.rule, session)
    name = firing["TrainingJob"]["TrainingJobName"]
    job = session.wait_for_job(name)
    seconds = (job["TrainingEndTime"] - job["TrainingStartTime"]).total_seconds()
    accuracy = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
    console.print(
        f"    retraining job {name}: {job['TrainingJobStatus']} ({seconds:.1f} s of training,"
        f" on the seed's data and the new customers'; validation accuracy"
        f" {accuracy.get('validation:accuracy', float('nan')):.4f})"
    )
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    console.print(f"    retrained model: [green]{artifact}[/]")
    return artifact


def roll_out(session: kiln.Session, predictor: kiln.Predictor, loop: Loop, artifact: str) -> None:
    """CreateModel from the retrained artifact, UpdateEndpoint with a canary, predict once."""
    sagemaker = session.sagemaker_client
    champion = sagemaker.describe_model(ModelName=loop.endpoint)
    model = f"{loop.endpoint}-retrained"
    sagemaker.create_model(
        ModelName=model,
        PrimaryContainer={**champion["PrimaryContainer"], "ModelDataUrl": artifact},
        ExecutionRoleArn=champion["ExecutionRoleArn"],
    )
    loop.models.append(model)
    # Capture stays on, so the next window is watched as this one was: the cycle runs again.
    config: dict[str, Any] = {
        "ProductionVariants": [_variant("Champion", model)],
        "DataCaptureConfig": _capture(session),
    }
    sagemaker.create_endpoint_config(EndpointConfigName=model, **config)
    loop.configs.append(model)
    started = time.monotonic()
    sagemaker.update_endpoint(
        EndpointName=loop.endpoint,
        EndpointConfigName=model,
        DeploymentConfig={"BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "CANARY", "WaitIntervalInSeconds": 1,
                                            "CanarySize": {"Type": "CAPACITY_PERCENT",
                                                           "Value": 50}},
            "TerminationWaitInSeconds": 0,
        }},
    )  # fmt: skip
    stages = _watch_rollout(session, loop.endpoint)
    console.print(f"    UpdateEndpoint → {model} with a CANARY DeploymentConfig:")
    for stage in stages:
        console.print(f"      {stage}", markup=False)
    console.print(f"    InService on the retrained model {time.monotonic() - started:.1f} s later")
    data = load_breast_cancer()
    answer = predictor.predict({"inputs": data.data[SAMPLE_ROWS]})
    truth = data.target[SAMPLE_ROWS].tolist()
    console.print(f"    the retrained model predicts → {answer}, truth {truth}", markup=False)


def _watch_rollout(session: kiln.Session, endpoint: str) -> list[str]:
    """Poll ``endpoint`` until its update ends; each stage's status message, in order."""
    sagemaker = session.sagemaker_client
    stages: list[str] = []

    def status() -> str:
        described: dict[str, Any] = dict(sagemaker.describe_endpoint(EndpointName=endpoint))
        pending = described.get("PendingDeploymentSummary", {})
        for variant in pending.get("ProductionVariants", []):
            for state in variant.get("VariantStatus", []):
                message = state.get("StatusMessage") or state["Status"]
                if message not in stages:
                    stages.append(message)
        return str(described["EndpointStatus"])

    final, _ = _poll(status, lambda s: s not in ("Updating", "Creating"), timeout=120)
    if final != "InService":
        raise RuntimeError(f"the rollout ended {final}")
    return stages


def _read_json(session: kiln.Session, uri: str) -> Any:
    """A JSON object of the store."""
    where = S3Uri.parse(uri)
    return json.loads(
        session.s3.client.get_object(Bucket=where.bucket, Key=where.key)["Body"].read()
    )


def delete_everything(session: kiln.Session, predictor: kiln.Predictor, loop: Loop) -> None:
    """Delete the monitoring schedule, its definition and the rule, the new data, then the
    endpoint, its configs and models."""
    sagemaker = session.sagemaker_client
    endpoint = predictor.endpoint_name
    sagemaker.delete_monitoring_schedule(MonitoringScheduleName=loop.schedule)
    sagemaker.delete_data_quality_job_definition(JobDefinitionName=loop.schedule)
    delete_retraining_rule(loop.rule, session)
    session.s3.delete(S3Uri.parse(loop.new_data))  # the next run trains on the seed's data alone
    console.print(f"    schedule and job definition {loop.schedule}, rule {loop.rule} are deleted")
    predictor.delete_endpoint()  # and the config it runs now (the retrained model's)
    older = [f"{endpoint}-shadow-test", f"{endpoint}-ab-test", *loop.configs[:-1]]
    for config in (endpoint, *older):
        sagemaker.delete_endpoint_config(EndpointConfigName=config)
    for model in (endpoint, f"{endpoint}-challenger", f"{endpoint}-shadow", *loop.models):
        sagemaker.delete_model(ModelName=model)
    console.print(f"    endpoint {endpoint}, its configs and models are deleted")


def main() -> None:
    """Run the demo."""
    started = time.monotonic()
    step(1, "Start an embedded Kiln server")
    settings = Settings.from_env(
        {
            "KILN_HOME": str(HOME),
            "KILN_PORT": str(free_port()),
            "KILN_S3_PORT": str(free_port()),
            # Capture files reach the store this long after their first record, and a monitoring
            # window is analyzed only then: 1 s instead of a minute keeps step 12 to seconds.
            "KILN_CAPTURE_FLUSH_SECONDS": "1",
        }
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
        # A run stopped part-way may have left step 12's new data here: train on the seed's.
        session.s3.delete(S3Uri.parse(data_uri).join(NEW_DATA))
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
        predictor = deploy_and_predict(estimator)
        step(7, "Train two challengers side by side (fit(wait=False))")
        artifacts = train_challengers(session, data_uri)
        create_models(session, predictor.endpoint_name, artifacts)
        step(8, "Shadow test with data capture, then labelled traffic and its ground truth")
        capture_uri = start_shadow_test(session, predictor.endpoint_name)
        send_labelled_traffic(session, predictor.endpoint_name, first=0)
        step(9, "A/B test: Champion vs Challenger 50/50, labelled traffic and ground truth")
        start_ab_test(session, predictor.endpoint_name)
        send_labelled_traffic(session, predictor.endpoint_name, first=TRAFFIC)
        step(10, "What the endpoint learned: the A/B report, captured data, metrics")
        show_what_was_learned(session, predictor.endpoint_name, capture_uri)
        step(11, "Autoscaling: a burst scales Champion out, and back in when it ends")
        autoscale_a_burst(session, predictor.endpoint_name)
        step(12, "Model Monitor closes the cycle: drift, violation, retraining, rollout")
        loop = close_the_loop(session, estimator, predictor, data_uri)
        step(13, "Delete the monitoring, the endpoint, its configs and models")
        delete_everything(session, predictor, loop)
    finally:
        server.stop()
    console.print(
        f"\n[bold green]Done in {time.monotonic() - started:.1f} s.[/] The server is stopped; "
        f"its jobs and data stay in {HOME} (KILN_HOME={HOME} kiln server brings them back)."
    )


if __name__ == "__main__":
    main()
