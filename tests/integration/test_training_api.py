"""Training jobs through a real server with real boto3 clients: the SageMaker contract."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import json
import tarfile
import time
import zipfile

import pytest

from conftest import (
    LOCAL_BACKEND_ONLY,
    Kiln,
    env_pythons,
    job_log_text,
    script_job,
    upload_source,
    wait_for_log,
)
from kiln.storage import S3Uri

pytestmark = pytest.mark.slow

TRAIN_SCRIPT = """
import os, sys
print("args", sys.argv[1:])
print("files", sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"])))
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
    f.write("trained")
print("loss=0.25")
"""

ARGPARSE_SCRIPT = """
import argparse, json, os
parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int)
parser.add_argument("--learning-rate", type=float)
parser.add_argument("--name")
parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
args = parser.parse_args()
env = {k: v for k, v in os.environ.items() if k.startswith(("SM_", "TRAINING_", "AWS_REGION"))}
with open(os.path.join(args.model_dir, "seen.json"), "w") as f:
    json.dump({"args": vars(args), "env": env, "cwd": os.getcwd()}, f)
"""

FAILING_SCRIPT = """
import os
with open("/opt/ml/output/failure" if os.path.isdir("/opt/ml/output")
          else os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as f:
    f.write("ValueError: the data has no label column")
raise SystemExit(1)
"""

SLEEPY_SCRIPT = """
import os, signal, sys, time
def on_term(*_):
    with open(os.path.join(os.environ["SM_MODEL_DIR"], "partial.txt"), "w") as f:
        f.write("saved on SIGTERM")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
print("started", flush=True)
time.sleep(120)
"""


def _model_files(kiln: Kiln, uri: str) -> dict[str, bytes]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    body = kiln.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _data(kiln: Kiln) -> str:
    kiln.s3.create_bucket(Bucket="data")
    kiln.s3.put_object(Bucket="data", Key="train/rows.csv", Body=b"1,2\n")
    return "s3://data/train"


def test_script_job_completes_with_model_artifact_and_metrics(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": TRAIN_SCRIPT})
    request = script_job("smoke-1", source, channels={"train": _data(kiln)})
    request["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "loss", "Regex": "loss=([0-9.]+)"}
    ]
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("smoke-1")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    uri = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert uri == "s3://output/jobs/smoke-1/output/model.tar.gz"
    assert _model_files(kiln, uri) == {"model.txt": b"trained"}
    assert job["FinalMetricDataList"][0]["MetricName"] == "loss"
    assert job["FinalMetricDataList"][0]["Value"] == 0.25


def test_hyperparameters_arrive_as_sorted_arguments_and_sm_variables(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": ARGPARSE_SCRIPT})
    hyperparameters = {"epochs": "3", "learning-rate": "0.01", "name": '"abc"'}
    request = script_job("argparse-1", source, hyperparameters=hyperparameters)
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("argparse-1")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    seen = json.loads(_model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])["seen.json"])
    assert seen["args"]["epochs"] == 3
    assert seen["args"]["learning_rate"] == 0.01
    assert seen["args"]["name"] == "abc"
    env = seen["env"]
    assert env["TRAINING_JOB_NAME"] == "argparse-1"
    assert env["SM_HP_LEARNING-RATE"] == "0.01"
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "learning-rate": 0.01, "name": "abc"}
    assert json.loads(env["SM_USER_ARGS"]) == [
        "--epochs", "3", "--learning-rate", "0.01", "--name", "abc"
    ]  # fmt: skip
    assert env["SM_CURRENT_HOST"] == "algo-1"
    assert seen["cwd"].endswith("/code")


def test_failure_file_becomes_failure_reason(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": FAILING_SCRIPT})
    kiln.sagemaker.create_training_job(**script_job("fails-1", source))
    job = kiln.wait("fails-1")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == "ValueError: the data has no label column"
    # ModelArtifacts is a required member of the answer; nothing was uploaded there.
    assert not list(kiln.thread.kiln.objects.keys(S3Uri("output", "jobs/fails-1")))


def test_crashing_script_fails_with_stderr_tail(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": "import sys\nraise KeyError('no-such-column')\n"})
    kiln.sagemaker.create_training_job(**script_job("crash-1", source))
    job = kiln.wait("crash-1")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: ExecuteUserScriptError")
    assert "KeyError: 'no-such-column'" in job["FailureReason"]
    assert job["SecondaryStatus"] == "Failed"


def test_killed_script_fails_naming_the_signal(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": "import os, signal\nos.kill(os.getpid(), 9)\n"})
    kiln.sagemaker.create_training_job(**script_job("killed-1", source))
    job = kiln.wait("killed-1")
    assert job["TrainingJobStatus"] == "Failed"
    assert "SIGKILL" in job["FailureReason"]


def test_requirements_get_a_cached_virtualenv(kiln: Kiln) -> None:
    script = "import tabulate\nprint(tabulate.tabulate([[1, 2]]))\n"
    files = {"train.py": script, "requirements.txt": "tabulate==0.9.0\n"}
    with pytest.raises(ImportError):
        __import__("tabulate")  # the server's own environment lacks it
    kiln.sagemaker.create_training_job(**script_job("reqs-1", upload_source(kiln, files)))
    first = kiln.wait("reqs-1", timeout=300)
    assert first["TrainingJobStatus"] == "Completed", first.get("FailureReason")
    kiln.sagemaker.create_training_job(**script_job("reqs-2", upload_source(kiln, files)))
    second = kiln.wait("reqs-2")
    assert second["TrainingJobStatus"] == "Completed", second.get("FailureReason")
    assert len(env_pythons(kiln)) == 1
    log = job_log_text(kiln.settings, "reqs-2")
    assert "Building environment" not in log


def test_stopped_job_gets_sigterm_and_keeps_what_it_saved(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": SLEEPY_SCRIPT})
    kiln.sagemaker.create_training_job(**script_job("stop-1", source))
    wait_for_log(kiln.settings, "stop-1", "started")
    kiln.sagemaker.stop_training_job(TrainingJobName="stop-1")
    job = kiln.wait("stop-1")
    assert job["TrainingJobStatus"] == "Stopped"
    statuses = [t["Status"] for t in job["SecondaryStatusTransitions"]]
    assert "Stopping" in statuses
    assert statuses[-1] == "Stopped"
    files = _model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert files == {"partial.txt": b"saved on SIGTERM"}


def test_job_over_max_runtime_is_stopped(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": "import time\ntime.sleep(120)\n"})
    kiln.sagemaker.create_training_job(**script_job("slow-1", source, max_runtime=1))
    job = kiln.wait("slow-1")
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"


def test_missing_channel_fails_naming_the_uri(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": TRAIN_SCRIPT})
    request = script_job("nodata-1", source, channels={"train": "s3://data/nowhere"})
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("nodata-1")
    assert job["TrainingJobStatus"] == "Failed"
    assert "s3://data/nowhere" in job["FailureReason"]


@pytest.mark.parametrize(
    ("member", "linkname"),
    [("/etc/evil.py", None), ("../evil.py", None), ("link.py", "../../../etc/passwd")],
)
def test_unsafe_source_archive_is_refused(kiln: Kiln, member: str, linkname: str | None) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo(member)
        if linkname:
            info.type, info.linkname = tarfile.SYMTYPE, linkname
            tar.addfile(info)
        else:
            info.size = 1
            tar.addfile(info, io.BytesIO(b"x"))
    kiln.s3.create_bucket(Bucket="code")
    kiln.s3.put_object(Bucket="code", Key="evil/sourcedir.tar.gz", Body=buffer.getvalue())
    request = script_job("evil-1", "s3://code/evil/sourcedir.tar.gz")
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("evil-1")
    assert job["TrainingJobStatus"] == "Failed"
    assert "refusing archive member" in job["FailureReason"]


def test_container_entrypoint_runs_as_given(kiln: Kiln) -> None:
    if not kiln.thread.kiln.backend.is_sandboxed:
        pytest.skip("ContainerArguments naming /opt/ml paths need the bwrap sandbox")
    kiln.s3.create_bucket(Bucket="data")
    kiln.s3.put_object(
        Bucket="data",
        Key="code/run.py",
        Body=b"import os, sys\nopen(os.environ['SM_MODEL_DIR'] + '/a', 'w').write(sys.argv[1])\n",
    )
    request = script_job("entry-1", "s3://unused/x.tar.gz", channels={"code": "s3://data/code"})
    request["HyperParameters"] = {}
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = ["python3"]
    request["AlgorithmSpecification"]["ContainerArguments"] = [
        "/opt/ml/input/data/code/run.py",
        "hello",
    ]
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("entry-1")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert _model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"]) == {"a": b"hello"}


def _wheel(name: str, module_source: str) -> bytes:
    """A minimal pure-Python wheel holding one module ``name``."""
    dist = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": module_source.encode(),
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: kiln-tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    record = [
        f"{path},sha256="
        + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        + f",{len(data)}"
        for path, data in files.items()
    ]
    files[f"{dist}/RECORD"] = ("\n".join([*record, f"{dist}/RECORD,,"]) + "\n").encode()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for path, data in files.items():
            archive.writestr(path, data)
    return buffer.getvalue()


def test_container_entrypoint_job_can_pip_install_without_touching_the_server(
    kiln: Kiln,
) -> None:
    # SDK v3's sm_train.sh runs `pip install -r requirements.txt` itself.
    if not kiln.thread.kiln.backend.is_sandboxed:
        pytest.skip("ContainerArguments naming /opt/ml paths need the bwrap sandbox")
    kiln.s3.create_bucket(Bucket="data")
    wheel = "kiln_pip_probe-1.0-py3-none-any.whl"
    kiln.s3.put_object(
        Bucket="data", Key=f"pip/{wheel}", Body=_wheel("kiln_pip_probe", "ANSWER = 42\n")
    )
    command = (
        f"pip install --quiet --no-index /opt/ml/input/data/code/{wheel} && "
        "python3 -c 'import kiln_pip_probe, os; "
        'open(os.environ["SM_MODEL_DIR"] + "/a", "w").write(str(kiln_pip_probe.ANSWER))\''
    )
    request = script_job("pip-1", "s3://unused/x.tar.gz", channels={"code": "s3://data/pip"})
    request["HyperParameters"] = {}
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = ["/bin/bash", "-c"]
    request["AlgorithmSpecification"]["ContainerArguments"] = [command]
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("pip-1")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert _model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"]) == {"a": b"42"}
    assert importlib.util.find_spec("kiln_pip_probe") is None


def test_two_instances_run_with_their_own_host_names(kiln: Kiln) -> None:
    script = (
        "import os\nhost = os.environ['SM_CURRENT_HOST']\n"
        "open(os.path.join(os.environ['SM_MODEL_DIR'], host), 'w').write(os.environ['SM_HOSTS'])\n"
    )
    request = script_job("multi-1", upload_source(kiln, {"train.py": script}))
    request["ResourceConfig"]["InstanceCount"] = 2
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("multi-1")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    files = _model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert files == {"algo-1": b'["algo-1","algo-2"]', "algo-2": b'["algo-1","algo-2"]'}


@LOCAL_BACKEND_ONLY  # KILN_CAPACITY_* sizes the queue; on Ray the live nodes do
def test_jobs_wait_for_capacity_in_order(kiln: Kiln) -> None:
    source = upload_source(kiln, {"train.py": SLEEPY_SCRIPT})
    big = script_job("big-1", source)
    big["ResourceConfig"]["InstanceType"] = "ml.m5.xlarge"  # 4 vCPUs: all of the test capacity
    kiln.sagemaker.create_training_job(**big)
    wait_for_log(kiln.settings, "big-1", "started")
    kiln.sagemaker.create_training_job(**script_job("queued-1", source))
    queued = kiln.sagemaker.describe_training_job(TrainingJobName="queued-1")
    deadline = time.monotonic() + 10
    while queued["SecondaryStatus"] != "Pending" and time.monotonic() < deadline:
        queued = kiln.sagemaker.describe_training_job(TrainingJobName="queued-1")
    assert queued["SecondaryStatus"] == "Pending"
    assert "Waiting for capacity" in queued["SecondaryStatusTransitions"][-1]["StatusMessage"]
    kiln.sagemaker.stop_training_job(TrainingJobName="big-1")
    wait_for_log(kiln.settings, "queued-1", "started")
    kiln.sagemaker.stop_training_job(TrainingJobName="queued-1")
    assert kiln.wait("queued-1")["TrainingJobStatus"] == "Stopped"


def test_checkpoints_are_synced_to_storage(kiln: Kiln) -> None:
    script = (
        "import os\nopen('/opt/ml/checkpoints/step-1.ckpt' if os.path.isdir('/opt/ml/checkpoints') "
        "else os.path.join(os.environ['SM_MODEL_DIR'], '..', 'checkpoints', 'step-1.ckpt'), 'w')"
        ".write('w')\n"
    )
    request = script_job("ckpt-1", upload_source(kiln, {"train.py": script}))
    request["CheckpointConfig"] = {"S3Uri": "s3://ckpt/ckpt-1"}
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("ckpt-1")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    body = kiln.s3.get_object(Bucket="ckpt", Key="ckpt-1/step-1.ckpt")["Body"].read()
    assert body == b"w"
