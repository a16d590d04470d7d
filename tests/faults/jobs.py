"""Training jobs for the faults: requests, waits that survive a dead server, and their checks."""

from __future__ import annotations

import io
import re
import tarfile
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from .lab import BUCKET, Lab
from .workloads import sha256

ROLE = "arn:aws:iam::000000000000:role/kiln"
OUTPUT = f"s3://{BUCKET}/output"
ENDS = frozenset({"Completed", "Failed", "Stopped"})
# How a FailureReason names where an unstored model is kept (services/training/kept_workspaces.py).
_KEPT = re.compile(r"kept in (/\S+) \(model/")


def job_request(
    name: str,
    source: str,
    *,
    hyperparameters: Mapping[str, object] | None = None,
    channel: str | None = None,
    checkpoints: str | None = None,
    volume_gb: int = 10,
) -> dict[str, Any]:
    """A script-mode CreateTrainingJob request, as the SDK sends it (kiln/python, train.py)."""
    hps = {k: str(v) for k, v in (hyperparameters or {}).items()}
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": "kiln/python", "TrainingInputMode": "File"},
        "HyperParameters": {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"{source}"',
            **hps,
        },
        "OutputDataConfig": {"S3OutputPath": OUTPUT},
        "ResourceConfig": {
            "InstanceType": "ml.m5.large",
            "InstanceCount": 1,
            "VolumeSizeInGB": volume_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": 900},
    }
    if channel is not None:
        source_spec = {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": channel}}
        request["InputDataConfig"] = [{"ChannelName": "train", "DataSource": source_spec}]
    if checkpoints is not None:
        request["CheckpointConfig"] = {"S3Uri": checkpoints}
    return request


def start_job(lab: Lab, name: str, script: str, **options: Any) -> str:
    """Upload ``script`` and create the job; its name."""
    lab.sagemaker.create_training_job(**job_request(name, lab.source(script), **options))
    return name


def completes(lab: Lab, name: str, script: str) -> None:
    """Check that a new job can still be created and completes (the server carries on)."""
    try:
        start_job(lab, name, script)
    except (ClientError, BotoCoreError) as e:
        lab.checks.expect(False, f"a new job {name} can be created", str(e)[:200])
        return
    ends(lab, name, "Completed")


def describe(lab: Lab, name: str) -> dict[str, Any] | None:
    """DescribeTrainingJob, or None while the server cannot answer."""
    found = lab.call(lab.sagemaker.describe_training_job, TrainingJobName=name)
    return None if found is None else dict(found)


def wait_secondary(
    lab: Lab, name: str, states: Collection[str], timeout: float, every: float = 0.05
) -> dict[str, Any] | None:
    """Poll until the job's SecondaryStatus is one of ``states``; its description, or None."""

    def probe() -> dict[str, Any] | None:
        job = describe(lab, name)
        return job if job is not None and job["SecondaryStatus"] in states else None

    return lab.poll(probe, timeout, every)


def ends(lab: Lab, name: str, expected: str | None = None) -> dict[str, Any] | None:
    """Check that the job ends within the profile's bound (stuck if not), ``expected`` if given."""
    within = lab.profile.steady_within_s
    started = time.monotonic()

    def probe() -> dict[str, Any] | None:
        job = describe(lab, name)
        return job if job is not None and job["TrainingJobStatus"] in ENDS else None

    final = lab.poll(probe, within, every=0.25)
    what = f"job {name} ends (Completed, Failed or Stopped) within {within:.0f} s"
    if final is None:
        last = describe(lab, name)
        seen = "the server does not answer"
        if last is not None:
            seen = f"still {last['TrainingJobStatus']}/{last['SecondaryStatus']}"
        lab.checks.expect(False, what, seen, counts="stuck")
        return None
    status = final["TrainingJobStatus"]
    lab.checks.expect(True, what, f"{status} after {time.monotonic() - started:.1f} s")
    if expected is not None:
        reason = final.get("FailureReason", "")
        lab.checks.expect(
            status == expected,
            f"job {name} is {expected}",
            status + (f": {reason[:300]}" if reason else ""),
        )
    return final


def model_uri(name: str) -> str:
    """Where job ``name`` stores its model.tar.gz."""
    return f"{OUTPUT}/{name}/output/model.tar.gz"


def model_files(lab: Lab, name: str) -> dict[str, bytes] | None:
    """The files of job ``name``'s stored model.tar.gz, or None if it is not there."""
    body = lab.get(model_uri(name))
    if body is None:
        return None
    try:
        with tarfile.open(fileobj=io.BytesIO(body)) as tar:
            found = {}
            for member in tar.getmembers():
                handle = tar.extractfile(member) if member.isfile() else None
                if handle is not None:
                    found[member.name] = handle.read()
            return found
    except tarfile.TarError:
        return None


def model_kept(
    lab: Lab, name: str, why: str, job: Mapping[str, Any] | None = None
) -> dict[str, bytes] | None:
    """Check that job ``name``'s model is stored (lost if not); its files.

    A model that could not be stored but is kept on disk where the job's FailureReason says
    has not vanished: that counts as kept too.
    """
    files = model_files(lab, name)
    observed = "missing" if files is None else f"{len(files)} file(s): {', '.join(sorted(files))}"
    kept = None if files is not None or job is None else kept_folder(job)
    if kept is not None:
        observed = f"not stored, but kept in {kept} as its FailureReason says"
    lab.checks.expect(
        files is not None or kept is not None,
        f"the model of {name} ({why}) is stored",
        observed[:200],
        counts="lost",
    )
    return files


def big_model_kept(lab: Lab, name: str, why: str, job: Mapping[str, Any] | None) -> None:
    """``model_kept``, and the stored weights are those ``BIG_MODEL`` wrote (lost if not)."""
    files = model_kept(lab, name, why, job)
    if files is not None:
        weights = files.get("weights.bin", b"")
        lab.checks.expect(
            sha256(weights) == files.get("weights.sha256", b"").decode(),
            "the stored model is the one the job wrote",
            f"{len(weights) >> 20} MiB of weights",
            counts="lost",
        )


def kept_folder(job: Mapping[str, Any]) -> Path | None:
    """The folder a failed job's FailureReason says its model is kept in, if it holds one."""
    found = _KEPT.search(job.get("FailureReason", ""))
    if found is None:
        return None
    folder = Path(found.group(1))
    models = [p for p in folder.glob("algo-*/model/*") if p.is_file()]
    return folder if models else None
