"""The SDK's monitor without a server: formats, cron helpers, suggest-baseline on local files,
and schedule requests that botocore's model accepts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters
from typer.testing import CliRunner

from kiln import CronExpressionGenerator, DatasetFormat, DefaultModelMonitor
from kiln.cli import app
from kiln.errors import ValidationError
from kiln.sdk.baselines import dataset_format_of
from kiln.sdk.model_monitor import MonitoringFile
from kiln.services.monitoring.baselines import DatasetKind

SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")
CSV = "name,age,colour\nann,31,red\nbob,42,blue\ncat,27,red\n"


@pytest.mark.parametrize(
    ("made", "expected"),
    [
        (CronExpressionGenerator.hourly(), "cron(0 * ? * * *)"),
        (CronExpressionGenerator.daily(), "cron(0 0 ? * * *)"),
        (CronExpressionGenerator.daily(17), "cron(0 17 ? * * *)"),
        (CronExpressionGenerator.daily_every_x_hours(6, 1), "cron(0 1/6 ? * * *)"),
        (CronExpressionGenerator.now(), "NOW"),
    ],
)
def test_cron_helpers_write_sagemakers_expressions(made: str, expected: str) -> None:
    assert made == expected


@pytest.mark.parametrize(
    ("document", "kind", "header"),
    [
        (DatasetFormat.csv(), DatasetKind.CSV, True),
        (DatasetFormat.csv(header=False), DatasetKind.CSV, False),
        (DatasetFormat.json(), DatasetKind.JSON_LINES, False),
        (DatasetFormat.parquet(), DatasetKind.PARQUET, False),
        (DatasetFormat.sagemaker_capture_json(), DatasetKind.CAPTURE, False),
    ],
)
def test_dataset_formats_map_to_the_analyzers(
    document: dict[str, Any], kind: DatasetKind, header: bool
) -> None:
    found = dataset_format_of(document)
    assert (found.kind, found.header) == (kind, header)


def test_json_that_is_not_lines_is_refused() -> None:
    with pytest.raises(ValidationError, match="JSON Lines"):
        dataset_format_of(DatasetFormat.json(lines=False))


def test_cli_suggest_baseline_on_local_files_needs_no_server(tmp_path: Path) -> None:
    (tmp_path / "people.csv").write_text(CSV)
    result = CliRunner().invoke(
        app,
        ["monitor", "suggest-baseline", "--dataset", str(tmp_path / "people.csv"),
         "--output", str(tmp_path / "out")],
        env={"KILN_PORT": "1"},  # nothing listens there: nothing may call it
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    statistics = json.loads((tmp_path / "out/statistics.json").read_text())
    assert [f["name"] for f in statistics["features"]] == ["name", "age", "colour"]
    constraints = json.loads((tmp_path / "out/constraints.json").read_text())
    assert constraints["features"][1]["num_constraints"] == {"is_non_negative": True}


def test_cli_suggest_baseline_without_header_names_columns_as_spark(tmp_path: Path) -> None:
    (tmp_path / "rows.csv").write_text("1,2.5\n0,3.5\n")
    result = CliRunner().invoke(
        app,
        ["monitor", "suggest-baseline", "--dataset", str(tmp_path / "rows.csv"), "--no-header",
         "--output", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    statistics = json.loads((tmp_path / "statistics.json").read_text())
    assert [f["name"] for f in statistics["features"]] == ["_c0", "_c1"]


def test_cli_suggest_baseline_of_a_missing_data_set_is_one_error_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["monitor", "suggest-baseline", "--dataset", str(tmp_path / "nope.csv"),
         "--output", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "No data set at" in result.output


def test_the_job_definition_request_is_valid_for_botocore() -> None:
    monitor = DefaultModelMonitor(max_runtime_in_seconds=600)
    request = monitor._job_definition(
        "dq",
        "churn",
        "s3://out/monitor",
        MonitoringFile({}, "s3://b/statistics.json"),
        "s3://b/constraints.json",
        enable_cloudwatch_metrics=True,
    )
    shape = SAGEMAKER.operation_model("CreateDataQualityJobDefinition").input_shape
    validate_parameters(request, shape)  # raises ParamValidationError on any bad field
    baseline = request["DataQualityBaselineConfig"]
    assert baseline["StatisticsResource"] == {"S3Uri": "s3://b/statistics.json"}
    assert baseline["ConstraintsResource"] == {"S3Uri": "s3://b/constraints.json"}


def test_schedule_calls_without_a_schedule_say_so() -> None:
    with pytest.raises(ValidationError, match="create_monitoring_schedule"):
        DefaultModelMonitor().describe_schedule()
