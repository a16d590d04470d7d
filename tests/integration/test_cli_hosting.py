"""``kiln deploy | invoke | models | endpoints`` against a real server, ``kiln serve`` alone."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from sklearn.datasets import load_breast_cancer
from typer.testing import CliRunner

from conftest import Kiln, deploy, sklearn_model_files, upload_model
from kiln.cli import app
from kiln.storage import terminate

runner = CliRunner()
ROWS = load_breast_cancer().data[[0, 20]].tolist()  # classes 0 and 1


@pytest.fixture
def endpoint(kiln: Kiln) -> str:
    """An InService endpoint ``cli-ep`` serving the random forest (model ``cli-ep-alltraffic``)."""
    deploy(kiln, "cli-ep", {"AllTraffic": (upload_model(kiln, sklearn_model_files()), 1, 1.0)})
    return "cli-ep"


@pytest.mark.slow
def test_deploy_uploads_a_local_model_and_prints_the_endpoint_name(
    kiln: Kiln, cli_env: dict[str, str], model_tarball: Path
) -> None:
    args = ["deploy", "--model-data", str(model_tarball), "--name", "from-cli", "-e", "A=1"]
    result = runner.invoke(app, args, env=cli_env)
    assert result.exit_code == 0, result.output
    assert result.stdout == "from-cli\n"
    assert result.stderr.endswith("Endpoint from-cli is InService (model from-cli)\n")
    model = kiln.sagemaker.describe_model(ModelName="from-cli")["PrimaryContainer"]
    assert model["ModelDataUrl"] == "s3://kiln-default/from-cli/model.tar.gz"
    assert model["Environment"] == {"A": "1"}


def test_deploy_refuses_the_local_instance_type(cli_env: dict[str, str]) -> None:
    args = ["deploy", "--model-data", "s3://m/model.tar.gz", "--instance-type", "local"]
    result = runner.invoke(app, args, env=cli_env)
    assert result.exit_code == 1
    assert result.stderr == (
        "error: ValidationError: --instance-type local: `kiln serve` runs a model on this machine\n"
    )


@pytest.mark.slow
def test_invoke_prints_the_answer_and_the_variant(endpoint: str, cli_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["invoke", endpoint, "--body", json.dumps(ROWS)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [0, 1]
    assert result.stderr.startswith("variant AllTraffic, application/json")


@pytest.mark.slow
def test_invoke_sends_a_csv_file_and_asks_for_csv(
    endpoint: str, cli_env: dict[str, str], tmp_path: Path
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(",".join(map(str, row)) for row in ROWS) + "\n")
    args = ["invoke", endpoint, "--file", str(rows), "--accept", "text/csv"]
    result = runner.invoke(app, args, env=cli_env)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["0", "1"]


@pytest.mark.slow
def test_a_model_error_is_one_error_line(endpoint: str, cli_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["invoke", endpoint, "--body", "[[1, 2]]"], env=cli_env)
    assert result.exit_code == 1
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: ModelError: Received server error (500)")
    assert "X has 2 features" in result.stderr


def test_invoke_needs_exactly_one_body(cli_env: dict[str, str]) -> None:
    result = runner.invoke(app, ["invoke", "any"], env=cli_env)
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ValidationError: Give the request as --body")


@pytest.mark.slow
def test_endpoints_ls_and_describe_show_status_and_replica_phases(
    endpoint: str, cli_env: dict[str, str]
) -> None:
    listed = runner.invoke(app, ["endpoints", "ls"], env=cli_env)
    assert [line.split("\t")[:2] for line in listed.stdout.splitlines()] == [
        [endpoint, "InService"]
    ]
    described = runner.invoke(app, ["endpoints", "describe", endpoint], env=cli_env)
    assert described.exit_code == 0, described.output
    answer = json.loads(described.stdout)
    assert answer["EndpointStatus"] == "InService"
    assert "ResponseMetadata" not in answer
    [replica] = answer["Replicas"]
    assert replica["VariantName"] == "AllTraffic"
    assert {"download_model", "load", "first_ping"} <= set(replica["Phases"])


@pytest.mark.slow
def test_models_ls_describe_and_delete(endpoint: str, cli_env: dict[str, str], kiln: Kiln) -> None:
    model = f"{endpoint}-alltraffic"
    listed = runner.invoke(app, ["models", "ls"], env=cli_env)
    assert [line.split("\t")[0] for line in listed.stdout.splitlines()] == [model]
    described = runner.invoke(app, ["models", "describe", model], env=cli_env)
    assert json.loads(described.stdout)["ModelName"] == model
    deleted = runner.invoke(app, ["models", "delete", model], env=cli_env)
    assert deleted.exit_code == 0, deleted.output
    assert kiln.sagemaker.list_models()["Models"] == []


@pytest.mark.slow
def test_endpoints_delete_removes_the_endpoint_and_its_config(
    endpoint: str, cli_env: dict[str, str], kiln: Kiln
) -> None:
    result = runner.invoke(app, ["endpoints", "delete", endpoint], env=cli_env)
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Deleted endpoint {endpoint} and its config\n"
    assert kiln.sagemaker.list_endpoints()["Endpoints"] == []
    assert kiln.sagemaker.list_endpoint_configs()["EndpointConfigs"] == []


def test_unknown_endpoint_is_one_error_line(cli_env: dict[str, str]) -> None:
    for command in (["endpoints", "describe", "nope"], ["endpoints", "delete", "nope"]):
        result = runner.invoke(app, command, env=cli_env)
        assert result.exit_code == 1
        assert result.stderr.startswith('error: ValidationException: Could not find endpoint "')
        assert len(result.stderr.splitlines()) == 1


@pytest.mark.slow
def test_serve_runs_one_replica_in_the_foreground_until_sigterm(
    model_tarball: Path, tmp_path: Path
) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "kiln.cli", "serve", "--model-data", str(model_tarball)]
        + ["--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "TMPDIR": str(scratch)},
    )
    with process:
        try:
            assert _predict(_listening_port(process)) == [0, 1]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=30) == 128 + signal.SIGTERM
        finally:
            terminate(process, grace=5)
    assert list(scratch.iterdir()) == []  # the extracted model is gone


def _listening_port(process: subprocess.Popen[bytes]) -> int:
    """Read the replica's phase lines up to ``listening``; its port."""
    assert process.stdout is not None
    for line in iter(process.stdout.readline, b""):
        phase = json.loads(line)
        if phase["kiln_phase"] == "listening":
            return int(phase["port"])
    raise AssertionError(f"kiln serve exited with {process.wait()} before listening")


def _predict(port: int) -> object:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/invocations",
        data=json.dumps(ROWS).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())
