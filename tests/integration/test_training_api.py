"""Training jobs through the real server with real boto3 clients."""

from __future__ import annotations

from conftest import Kiln, script_job, upload_source

TRAIN_SCRIPT = """
import os, sys
print("args", sys.argv[1:])
print("files", sorted(os.listdir(os.environ["SM_CHANNEL_TRAIN"])))
with open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w") as f:
    f.write("trained")
print("loss=0.25")
"""


def test_script_job_completes_with_model_artifact(kiln: Kiln) -> None:
    kiln.s3.create_bucket(Bucket="data")
    kiln.s3.put_object(Bucket="data", Key="train/rows.csv", Body=b"1,2\n")
    source = upload_source(kiln, {"train.py": TRAIN_SCRIPT})
    request = script_job(
        "smoke-1",
        source,
        channels={"train": "s3://data/train"},
        hyperparameters={"epochs": "3"},
    )
    request["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "loss", "Regex": "loss=([0-9.]+)"}
    ]
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("smoke-1")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == "s3://output/jobs/smoke-1/output/model.tar.gz"
    assert job["FinalMetricDataList"][0]["Value"] == 0.25
