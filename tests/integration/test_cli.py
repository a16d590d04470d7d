"""The ``kiln`` command against a real server, and ``kiln server`` as a real process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from conftest import EXAMPLES, Kiln, free_port, script_job, upload_source
from kiln.cli import app
from kiln.config import Settings
from kiln.sdk.session import sagemaker_client
from kiln.storage import terminate, wait_for_port

runner = CliRunner()
KILN = [sys.executable, "-m", "kiln.cli"]
SLEEPY = "import time\nprint('started', flush=True)\ntime.sleep(120)\n"


def _wait_for_status(kiln: Kiln, job: str, secondary: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (
            kiln.sagemaker.describe_training_job(TrainingJobName=job)["SecondaryStatus"]
            == secondary
        ):
            return
        time.sleep(0.05)
    raise AssertionError(f"{job} never reached {secondary}")


def test_env_output_evaluated_in_bash_lets_plain_boto3_reach_kiln(
    kiln: Kiln, cli_env: dict[str, str]
) -> None:
    kiln.sagemaker.create_training_job(**script_job("env-1", "s3://code/none.tar.gz"))
    probe = (
        "import boto3; "
        "print(boto3.client('sagemaker').list_training_jobs()['TrainingJobSummaries'][0]"
        "['TrainingJobName']); "
        "boto3.client('s3').create_bucket(Bucket='from-env'); "
        "print([b['Name'] for b in boto3.client('s3').list_buckets()['Buckets']])"
    )
    script = f'eval "$({" ".join(KILN)} env)" && {sys.executable} -c "{probe}"'
    env = {**os.environ, **cli_env, "AWS_CONFIG_FILE": "/dev/null"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "env-1"
    assert "from-env" in done.stdout.splitlines()[1]


def test_env_names_the_running_servers_ports_and_answers_sts(kiln: Kiln) -> None:
    # Only KILN_HOME: the server listens on ports picked at start, which env must find.
    probe = "import boto3; print(boto3.client('sts').get_caller_identity()['Account'])"
    script = f'eval "$({" ".join(KILN)} env)" && env && {sys.executable} -c "{probe}"'
    env = {**os.environ, "KILN_HOME": str(kiln.settings.home), "AWS_CONFIG_FILE": "/dev/null"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert f"AWS_ENDPOINT_URL_SAGEMAKER={kiln.endpoint}" in lines
    assert f"AWS_ENDPOINT_URL_S3={kiln.settings.s3_endpoint_url}" in lines
    assert lines[-1] == "000000000000"


def test_env_follows_kiln_port_over_the_running_server(kiln: Kiln) -> None:
    env = {"KILN_HOME": str(kiln.settings.home), "KILN_PORT": "9999"}
    result = runner.invoke(app, ["env"], env=env)
    assert "export AWS_ENDPOINT_URL_SAGEMAKER=http://127.0.0.1:9999" in result.stdout


def test_jobs_ls_prints_one_tab_separated_line_per_job(kiln: Kiln, cli_env: dict[str, str]) -> None:
    for name in ("ls-alpha", "ls-beta"):
        kiln.sagemaker.create_training_job(**script_job(name, "s3://code/none.tar.gz"))
        kiln.wait(name)
    result = runner.invoke(app, ["jobs", "ls"], env=cli_env)
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [row[:3] for row in rows] == [
        ["ls-beta", "Failed", "Failed"],
        ["ls-alpha", "Failed", "Failed"],
    ]  # newest first


def test_jobs_ls_filters_by_name_status_and_count(kiln: Kiln, cli_env: dict[str, str]) -> None:
    for name in ("keep-1", "keep-2", "other-1"):
        kiln.sagemaker.create_training_job(**script_job(name, "s3://code/none.tar.gz"))
        kiln.wait(name)
    by_name = runner.invoke(app, ["jobs", "ls", "--name-contains", "keep"], env=cli_env)
    assert [line.split("\t")[0] for line in by_name.stdout.splitlines()] == ["keep-2", "keep-1"]
    completed = runner.invoke(app, ["jobs", "ls", "--status", "Completed"], env=cli_env)
    assert completed.stdout == ""
    assert (
        len(runner.invoke(app, ["jobs", "ls", "--max", "1"], env=cli_env).stdout.splitlines()) == 1
    )


def test_jobs_describe_prints_the_description_as_json(kiln: Kiln, cli_env: dict[str, str]) -> None:
    kiln.sagemaker.create_training_job(**script_job("described", "s3://code/none.tar.gz"))
    result = runner.invoke(app, ["jobs", "describe", "described"], env=cli_env)
    assert result.exit_code == 0, result.output
    job = json.loads(result.stdout)
    assert job["TrainingJobName"] == "described"
    assert "ResponseMetadata" not in job
    assert isinstance(job["CreationTime"], str)


@pytest.mark.slow
def test_jobs_stop_stops_a_running_job(kiln: Kiln, cli_env: dict[str, str]) -> None:
    kiln.sagemaker.create_training_job(
        **script_job("stop-me", upload_source(kiln, {"train.py": SLEEPY}))
    )
    _wait_for_status(kiln, "stop-me", "Training")
    result = runner.invoke(app, ["jobs", "stop", "stop-me"], env=cli_env)
    assert result.exit_code == 0, result.output
    job = kiln.wait("stop-me")
    assert job["TrainingJobStatus"] == "Stopped", job.get("FailureReason")


def test_unknown_job_is_one_error_line_without_traceback(cli_env: dict[str, str]) -> None:
    for command in (["jobs", "describe", "nope"], ["jobs", "stop", "nope"], ["logs", "nope"]):
        result = runner.invoke(app, command, env=cli_env)
        assert result.exit_code == 1
        assert result.stderr == "error: ValidationException: Requested resource not found.\n"
        assert result.stdout == ""


@pytest.mark.slow
def test_train_spec_sends_the_yaml_request_and_follows_the_log(
    kiln: Kiln, cli_env: dict[str, str], tmp_path: Path
) -> None:
    source = upload_source(kiln, {"train.py": "print('hello from the spec')\n"})
    spec = tmp_path / "job.yaml"
    spec.write_text(yaml.safe_dump(script_job("from-spec", source)))
    result = runner.invoke(app, ["train", "--spec", str(spec)], env=cli_env)
    assert result.exit_code == 0, result.output
    assert "hello from the spec" in result.stdout
    assert "Completed - Training job completed" in result.stdout
    assert (
        kiln.sagemaker.describe_training_job(TrainingJobName="from-spec")["HyperParameters"]
        == (script_job("from-spec", source)["HyperParameters"])
    )


@pytest.mark.slow
def test_train_of_a_failing_job_ends_with_one_error_line(
    kiln: Kiln, cli_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text("raise SystemExit('bad input')\n")
    args = ["train", "--entry-point", str(tmp_path / "train.py"), "--job-name", "cli-fails"]
    result = runner.invoke(app, args, env=cli_env)
    assert result.exit_code == 1
    last = result.stderr.splitlines()[-1]
    assert last.startswith("error: UnexpectedStatusError: Error for Training job cli-fails")
    assert "bad input" in last


@pytest.mark.slow
def test_train_flags_run_the_sklearn_example(
    kiln: Kiln, cli_env: dict[str, str], tmp_path: Path
) -> None:
    rows = "\n".join(f"{i % 2},{i % 2 + 0.1 * (i % 3)},{i}" for i in range(60))
    (tmp_path / "train.csv").write_text(rows + "\n")
    uri = runner.invoke(app, ["upload", str(tmp_path / "train.csv")], env=cli_env).stdout.strip()
    args = ["train", "--entry-point", "train.py", "--source-dir", str(EXAMPLES / "sklearn")]
    args += ["-p", "n-estimators=5", "--input", f"train={uri}", "--job-name", "cli-sklearn"]
    result = runner.invoke(app, args, env=cli_env)
    assert result.exit_code == 0, result.output
    assert "validation_accuracy=" in result.stdout
    job = kiln.sagemaker.describe_training_job(TrainingJobName="cli-sklearn")
    assert job["HyperParameters"]["n-estimators"] == "5"


@pytest.mark.slow
def test_no_wait_prints_the_job_name_and_logs_reads_it_later(
    kiln: Kiln, cli_env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "train.py").write_text("print('later')\n")
    args = ["train", "--entry-point", str(tmp_path / "train.py"), "--job-name", "bg", "--no-wait"]
    started = runner.invoke(app, args, env=cli_env)
    assert started.stdout == "bg\n"
    kiln.wait("bg")
    assert runner.invoke(app, ["logs", "bg"], env=cli_env).stdout.startswith("later\n")
    assert runner.invoke(app, ["logs", "bg", "--follow"], env=cli_env).stdout.startswith("later\n")


def _rclone_pids(storage: Path) -> list[int]:
    """Processes serving ``storage`` (the embedded S3 server of one Kiln home)."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # not a process, or it just exited
        if entry.name.isdigit() and str(storage).encode() in cmdline:
            pids.append(int(entry.name))
    return pids


def test_a_client_that_finds_the_server_port_open_finds_its_store_port_too(tmp_path: Path) -> None:
    port, s3_port, home = free_port(), free_port(), tmp_path / "home"
    command = [*KILN, "server", "--port", str(port), "--s3-port", str(s3_port)]
    process = subprocess.Popen(
        command,
        env={**os.environ, "KILN_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_for_port("127.0.0.1", port, 60, process)
        # What `kiln env` and the SDK helpers read: KILN_HOME's address file, not a default.
        settings = Settings.for_client({"KILN_HOME": str(home), "KILN_PORT": str(port)})
        assert settings.s3_port == s3_port
    finally:
        terminate(process, grace=5)


@pytest.mark.parametrize(
    ("sig", "exit_status"),
    [(signal.SIGTERM, -signal.SIGTERM), (signal.SIGINT, 128 + signal.SIGINT)],
)
def test_server_process_answers_boto3_and_stops_cleanly_on_signal(
    tmp_path: Path, sig: signal.Signals, exit_status: int
) -> None:
    port, s3_port, home = free_port(), free_port(), tmp_path / "home"
    command = [*KILN, "server", "--port", str(port), "--s3-port", str(s3_port)]
    log = tmp_path / "server.log"
    with open(log, "wb") as output:
        process = subprocess.Popen(
            command,
            env={**os.environ, "KILN_HOME": str(home)},
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for_port("127.0.0.1", port, 60, process)
        settings = Settings.from_env({"KILN_HOME": str(home), "KILN_PORT": str(port)})
        assert sagemaker_client(settings).list_training_jobs()["TrainingJobSummaries"] == []
        (rclone,) = _rclone_pids(settings.storage_dir)
        process.send_signal(sig)
        assert process.wait(timeout=60) == exit_status
        assert _rclone_pids(settings.storage_dir) == []
        assert not Path(f"/proc/{rclone}").exists()
        assert "Traceback" not in log.read_text()
    finally:
        terminate(process, grace=5)
