"""The ``kiln`` command without a server: output formats, flag parsing and error lines."""

from __future__ import annotations

import shlex
import socket
from pathlib import Path

import yaml
from typer.testing import CliRunner

from kiln.cli import app

runner = CliRunner()


def _unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("server", "env", "upload", "train", "jobs", "logs"):
        assert command in result.output


def test_env_prints_shell_quoted_exports(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["env"],
        env={
            "KILN_ACCESS_KEY_ID": "AKIDEXAMPLE",
            "KILN_SECRET_ACCESS_KEY": "it's secret",
            "KILN_PORT": "9100",
            "KILN_S3_PORT": "9101",
            "KILN_REGION": "eu-west-1",
            "KILN_HOME": str(tmp_path),
        },
    )
    assert result.exit_code == 0
    exported = dict(shlex.split(line)[1].split("=", 1) for line in result.stdout.splitlines())
    assert exported == {
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "it's secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_ENDPOINT_URL_SAGEMAKER": "http://127.0.0.1:9100",
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": "http://127.0.0.1:9100",
        "AWS_ENDPOINT_URL_CLOUDWATCH_LOGS": "http://127.0.0.1:9100",
        "AWS_ENDPOINT_URL_CLOUDWATCH": "http://127.0.0.1:9100",
        "AWS_ENDPOINT_URL_APPLICATION_AUTO_SCALING": "http://127.0.0.1:9100",
        "AWS_ENDPOINT_URL_STS": "http://127.0.0.1:9100",
        "AWS_ENDPOINT_URL_IAM": "http://127.0.0.1:9100",
        "AWS_ENDPOINT_URL_S3": "http://127.0.0.1:9101",
        "SAGEMAKER_USER_CONFIG_OVERRIDE": str(tmp_path / "sagemaker-config.yaml"),
    }


def test_env_writes_the_sagemaker_sdk_config_with_a_bucket_and_telemetry_off(
    tmp_path: Path,
) -> None:
    runner.invoke(app, ["env"], env={"KILN_HOME": str(tmp_path)})
    config = yaml.safe_load((tmp_path / "sagemaker-config.yaml").read_text())
    modules = config["SageMaker"]["PythonSDK"]["Modules"]
    assert modules["TelemetryOptOut"] is True
    assert modules["Session"]["DefaultS3Bucket"] == "kiln-default"


def test_env_points_at_an_external_store_and_kiln_endpoint() -> None:
    result = runner.invoke(
        app,
        ["env"],
        env={"KILN_ENDPOINT": "https://kiln.example", "KILN_S3_ENDPOINT_URL": "https://s3.example"},
    )
    assert "export AWS_ENDPOINT_URL_SAGEMAKER=https://kiln.example" in result.stdout
    assert "export AWS_ENDPOINT_URL_S3=https://s3.example" in result.stdout


def test_train_without_entry_point_or_spec_is_one_error_line() -> None:
    result = runner.invoke(app, ["train"])
    assert result.exit_code == 1
    assert result.stderr == (
        "error: ValidationError: Give --entry-point (with the flags) or --spec FILE\n"
    )


def test_malformed_hyperparameter_is_quoted_in_the_error() -> None:
    result = runner.invoke(app, ["train", "--entry-point", "train.py", "-p", "epochs"])
    assert result.exit_code == 1
    assert result.stderr == "error: ValidationError: -p 'epochs': expected NAME=VALUE\n"


def test_unreachable_server_is_one_error_line_naming_the_endpoint() -> None:
    endpoint = f"http://127.0.0.1:{_unused_port()}"
    result = runner.invoke(app, ["jobs", "ls"], env={"KILN_ENDPOINT": endpoint})
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert endpoint in result.stderr
    assert "kiln server" in result.stderr
    assert "Traceback" not in result.output


def test_logs_of_an_unreachable_server_is_one_error_line() -> None:
    endpoint = f"http://127.0.0.1:{_unused_port()}"
    result = runner.invoke(app, ["logs", "some-job"], env={"KILN_ENDPOINT": endpoint})
    assert result.exit_code == 1
    assert result.stderr.startswith("error: Could not connect to the endpoint URL")
    assert "is `kiln server` running?" in result.stderr
    assert result.stderr.count("\n") == 1


def test_bad_kiln_variable_is_one_error_line() -> None:
    result = runner.invoke(app, ["jobs", "ls"], env={"KILN_PORT": "eighty"})
    assert result.exit_code == 1
    assert result.stderr == "error: ValidationError: KILN_PORT='eighty' is not a whole number\n"


def test_kiln_server_says_in_one_line_why_it_refuses_to_run_unsandboxed(tmp_path: Path) -> None:
    env = {"KILN_HOME": str(tmp_path), "KILN_SANDBOX": "required", "PATH": str(tmp_path)}
    result = runner.invoke(app, ["server", "--port", "0"], env=env)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: SandboxUnavailableError: KILN_SANDBOX=required, but bubblewrap (bwrap) is not "
        "installed: install bubblewrap"
    )
    assert result.stderr.count("\n") == 1
