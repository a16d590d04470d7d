"""Baselines: a completed training job's train channel gets one next to its model, named by
tags; ``kiln monitor suggest-baseline`` and ``DefaultModelMonitor.suggest_baseline`` make one
of any data set in the store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from botocore.exceptions import ClientError
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner

from conftest import Kiln, make_settings, script_job, start_kiln, upload_source, wait_until
from kiln import CronExpressionGenerator, DatasetFormat, DefaultModelMonitor, Session
from kiln.cli import app

pytestmark = pytest.mark.slow

# The baseline reads the data, not the model: a script that only saves a file keeps jobs short.
TRAIN = """
import os
open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("trained")
"""
GOOD = "baselined"
BAD_TAG = "bad-exclude"


@pytest.fixture(scope="module")
def kiln(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kiln]:
    """One server; two jobs trained on the breast-cancer CSV (label first, no header), one
    of them tagged to leave out a column the data does not have."""
    home: Path = tmp_path_factory.mktemp("baselines")
    cancer = load_breast_cancer()
    rows = np.column_stack([cancer.target, cancer.data])
    data = home / "train.csv"
    np.savetxt(data, rows, delimiter=",", fmt="%.10g")
    settings = make_settings(home / "kiln-home", f"sqlite:///{home / 'kiln.db'}")
    with start_kiln(settings) as server:
        server.thread.kiln.objects.ensure_bucket("data")
        server.s3.put_object(Bucket="data", Key="cancer/train.csv", Body=data.read_bytes())
        source = upload_source(server, {"train.py": TRAIN})
        for name, tags in ((GOOD, []), (BAD_TAG, [{"Key": "kiln:baseline-exclude", "Value": "x"}])):
            server.sagemaker.create_training_job(
                **script_job(
                    name,
                    source,
                    channels={"train": "s3://data/cancer/"},
                    Tags=tags,
                )
            )
        for name in (GOOD, BAD_TAG):
            assert server.wait(name)["TrainingJobStatus"] == "Completed"
            wait_until(lambda n=name: _status(server, n) in ("Completed", "Failed"), f"{name}")
        yield server


def _tags(kiln: Kiln, job: str) -> dict[str, str]:
    arn = kiln.sagemaker.describe_training_job(TrainingJobName=job)["TrainingJobArn"]
    return {t["Key"]: t["Value"] for t in kiln.sagemaker.list_tags(ResourceArn=arn)["Tags"]}


def _status(kiln: Kiln, job: str) -> str | None:
    return _tags(kiln, job).get("kiln:baseline-status")


def _document(kiln: Kiln, uri: str) -> Any:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return json.loads(kiln.s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def test_baseline_files_sit_next_to_the_model(kiln: Kiln) -> None:
    listed = kiln.s3.list_objects_v2(Bucket="output", Prefix=f"jobs/{GOOD}/output/")
    keys = {item["Key"] for item in listed["Contents"]}
    assert {
        f"jobs/{GOOD}/output/model.tar.gz",
        f"jobs/{GOOD}/output/baseline/statistics.json",
        f"jobs/{GOOD}/output/baseline/constraints.json",
    } <= keys


def test_tags_name_the_baseline_files(kiln: Kiln) -> None:
    tags = _tags(kiln, GOOD)
    output = f"s3://output/jobs/{GOOD}/output/baseline"
    assert tags["kiln:baseline-status"] == "Completed"
    assert tags["kiln:baseline-statistics"] == f"{output}/statistics.json"
    assert tags["kiln:baseline-constraints"] == f"{output}/constraints.json"


def test_statistics_match_the_inputs_without_the_label(kiln: Kiln) -> None:
    statistics = _document(kiln, _tags(kiln, GOOD)["kiln:baseline-statistics"])
    x = load_breast_cancer().data
    features = {f["name"]: f for f in statistics["features"]}
    assert statistics["dataset"]["item_count"] == len(x)
    assert sorted(features) == sorted(f"_c{i}" for i in range(1, 31))  # _c0, the label, left out
    numbers = features["_c1"]["numerical_statistics"]
    assert numbers["mean"] == pytest.approx(x[:, 0].mean(), rel=1e-6)
    assert numbers["min"] == pytest.approx(x[:, 0].min())


def test_constraints_cover_the_same_features(kiln: Kiln) -> None:
    constraints = _document(kiln, _tags(kiln, GOOD)["kiln:baseline-constraints"])
    assert len(constraints["features"]) == 30
    assert constraints["features"][0]["completeness"] == 1.0


def test_a_failed_baseline_is_recorded_and_leaves_the_job_completed(kiln: Kiln) -> None:
    tags = _tags(kiln, BAD_TAG)
    job = kiln.sagemaker.describe_training_job(TrainingJobName=BAD_TAG)
    assert job["TrainingJobStatus"] == "Completed"
    assert tags["kiln:baseline-status"] == "Failed"
    assert "kiln:baseline-exclude names x" in tags["kiln:baseline-failure"]
    assert "kiln:baseline-statistics" not in tags


def test_the_kept_training_data_is_removed_once_baselined(kiln: Kiln) -> None:
    assert not any(kiln.settings.baselines_dir.iterdir())


def test_cli_suggest_baseline_reads_and_writes_the_store(
    kiln: Kiln, cli_env: dict[str, str]
) -> None:
    result = CliRunner().invoke(
        app,
        ["monitor", "suggest-baseline", "--dataset", "s3://data/cancer/", "--no-header",
         "--output", "s3://data/cli-baseline"],
        env=cli_env,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Analyzing 1 file(s)" in result.stderr
    assert result.stdout.split() == [
        "s3://data/cli-baseline/statistics.json",
        "s3://data/cli-baseline/constraints.json",
    ]
    statistics = _document(kiln, "s3://data/cli-baseline/statistics.json")
    assert len(statistics["features"]) == 31  # on demand, every column: the label too


def test_sdk_suggest_baseline_writes_what_the_monitor_reads_back(
    kiln: Kiln, session: Session
) -> None:
    monitor = DefaultModelMonitor(sagemaker_session=session)
    job = monitor.suggest_baseline(
        baseline_dataset="s3://data/cancer/train.csv",
        dataset_format=DatasetFormat.csv(header=False),
        output_s3_uri="s3://data/sdk-baseline",
        logs=False,
    )
    statistics = job.baseline_statistics()
    assert statistics.file_s3_uri == "s3://data/sdk-baseline/statistics.json"
    assert _document(kiln, statistics.file_s3_uri) == statistics.body_dict
    assert statistics.body_dict["dataset"]["item_count"] == 569
    constraints = job.suggested_constraints()
    assert _document(kiln, constraints.file_s3_uri)["features"][0]["name"] == "_c0"


def test_sdk_schedule_on_an_endpoint_kiln_lacks_is_refused_and_leaves_no_definition(
    kiln: Kiln, session: Session
) -> None:
    monitor = DefaultModelMonitor(sagemaker_session=session)
    with pytest.raises(ClientError) as raised:
        monitor.create_monitoring_schedule(
            endpoint_input="no-such-endpoint",
            output_s3_uri="s3://data/monitor",
            statistics="s3://data/sdk-baseline/statistics.json",
            constraints="s3://data/sdk-baseline/constraints.json",
            schedule_cron_expression=CronExpressionGenerator.hourly(),
        )
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    listed = kiln.sagemaker.list_data_quality_job_definitions()["JobDefinitionSummaries"]
    assert listed == []
    assert monitor.monitoring_schedule_name is None
