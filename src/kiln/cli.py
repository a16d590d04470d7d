"""``kiln``: the command line.

    kiln server [--host H] [--port P] [--s3-port Q]    run the server in the foreground
    kiln env                                           export lines for plain boto3 / aws CLI
    kiln upload PATH [--bucket B] [--key-prefix K]     put data in the store; prints its URI
    kiln train (--entry-point F [flags] | --spec FILE) start a training job, follow its log
    kiln jobs ls | describe NAME | stop NAME           training jobs
    kiln logs JOB [--follow]                           a job's log

Every command talks to the server the way the SDK does (boto3, the native log endpoint). Errors
print as one red line, ``error: <code>: <message>``, and exit with status 1.
"""

from __future__ import annotations

import functools
import json
import logging
import shlex
import sys
import urllib.error
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec

import typer
import yaml
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from rich.console import Console
from rich.table import Table

from kiln.config import Settings
from kiln.errors import KilnError, ValidationError
from kiln.sdk import Estimator, Session
from kiln.sdk.logs import LogReader

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import TrainingJobSummaryTypeDef

P = ParamSpec("P")

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Kiln: a self-hosted ML platform that speaks SageMaker's API.",
)
jobs_app = typer.Typer(no_args_is_help=True, help="List, describe and stop training jobs.")
app.add_typer(jobs_app, name="jobs")

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")


def _fail(message: str) -> typer.Exit:
    """Print ``message`` as one red line; the exit to raise."""
    _stderr.print(f"error: {' '.join(message.split())}", style="red", markup=False)
    return typer.Exit(1)


def _reports_errors(command: Callable[P, None]) -> Callable[P, None]:
    """Turn the errors a user can cause into one red line and exit status 1."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except ClientError as e:
            error = e.response.get("Error", {})
            raise _fail(f"{error.get('Code', 'Error')}: {error.get('Message', e)}") from None
        except KilnError as e:
            raise _fail(f"{type(e).__name__}: {e.message}") from None
        except EndpointConnectionError as e:
            raise _fail(f"{e} (is `kiln server` running? KILN_ENDPOINT sets where)") from None
        except BotoCoreError as e:
            raise _fail(str(e)) from None
        except urllib.error.URLError as e:
            raise _fail(f"Could not reach Kiln's log endpoint: {e.reason}") from None

    return run


def _settings() -> Settings:
    """The environment's settings; a bad ``KILN_*`` value is the user's error, not a crash."""
    try:
        return Settings.from_env()
    except ValueError as e:
        raise ValidationError(str(e)) from None


def _session() -> Session:
    return Session(_settings())


@app.command()
@_reports_errors
def server(
    host: Annotated[str | None, typer.Option(help="Interface to listen on [KILN_HOST].")] = None,
    port: Annotated[int | None, typer.Option(help="API port [KILN_PORT].")] = None,
    s3_port: Annotated[int | None, typer.Option(help="Embedded S3 port [KILN_S3_PORT].")] = None,
) -> None:
    """Run the Kiln server in the foreground until Ctrl-C or SIGTERM."""
    from kiln.server import serve  # the server's dependencies load only for this command

    settings = _settings().with_ports(port=port, s3_port=s3_port)
    if host is not None:
        settings = _listening_on(settings, host)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s:     %(name)s: %(message)s")
    logging.getLogger("kiln").setLevel(logging.INFO)
    _stderr.print(f"Kiln API {settings.endpoint}, S3 {settings.s3_endpoint_url}")
    _stderr.print(f'KILN_HOME {settings.home}; clients: eval "$(kiln env)"')
    try:
        serve(settings)
    except KeyboardInterrupt:
        raise typer.Exit(130) from None  # 128 + SIGINT, after a clean shutdown


def _listening_on(settings: Settings, host: str) -> Settings:
    """``settings`` listening on ``host``; a default endpoint follows a specific address."""
    endpoint = settings.endpoint
    if host not in _WILDCARD_HOSTS and endpoint == f"http://127.0.0.1:{settings.port}":
        endpoint = f"http://{f'[{host}]' if ':' in host else host}:{settings.port}"
    return replace(settings, host=host, endpoint=endpoint)


@app.command()
@_reports_errors
def env() -> None:
    """Print export lines that point boto3 and the aws CLI at Kiln: eval "$(kiln env)"."""
    settings = _settings()
    for name, value in client_environment(settings).items():
        typer.echo(f"export {name}={shlex.quote(value)}")
    if settings.s3_credentials != settings.credentials:
        _stderr.print(
            "note: the external S3 store has its own keys (KILN_S3_ACCESS_KEY_ID); "
            "plain S3 clients need those instead"
        )


def client_environment(settings: Settings) -> dict[str, str]:
    """The AWS_* variables with which boto3, the aws CLI and the sagemaker SDK reach Kiln."""
    return {
        "AWS_ACCESS_KEY_ID": settings.credentials.access_key_id,
        "AWS_SECRET_ACCESS_KEY": settings.credentials.secret_access_key,
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_ENDPOINT_URL_SAGEMAKER": settings.endpoint,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": settings.endpoint,
        "AWS_ENDPOINT_URL_S3": settings.s3_endpoint_url,
    }


@app.command()
@_reports_errors
def upload(
    path: Annotated[Path, typer.Argument(exists=True, help="A file or a folder.")],
    bucket: Annotated[str | None, typer.Option(help="Default: kiln-default.")] = None,
    key_prefix: Annotated[str, typer.Option(help="Where under the bucket.")] = "data",
) -> None:
    """Upload data to Kiln's store and print its s3:// URI (for --input)."""
    typer.echo(_session().upload_data(path, bucket=bucket, key_prefix=key_prefix))


@app.command()
@_reports_errors
def train(
    entry_point: Annotated[str | None, typer.Option(help="Script to run.")] = None,
    source_dir: Annotated[str | None, typer.Option(help="Folder shipped with it.")] = None,
    hyperparameter: Annotated[
        list[str] | None, typer.Option("--hyperparameter", "-p", help="NAME=VALUE, repeatable.")
    ] = None,
    input_: Annotated[
        list[str] | None, typer.Option("--input", "-i", help="CHANNEL=s3://…, repeatable.")
    ] = None,
    instance_type: Annotated[str, typer.Option()] = "ml.m5.large",
    instance_count: Annotated[int, typer.Option()] = 1,
    output_path: Annotated[str | None, typer.Option(help="Default: s3://kiln-default/.")] = None,
    max_run: Annotated[int, typer.Option(help="Seconds before the job is stopped.")] = 86400,
    job_name: Annotated[str | None, typer.Option(help="Default: kiln-training-<time>.")] = None,
    spec: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="A CreateTrainingJob request (JSON/YAML)."),
    ] = None,
    wait: Annotated[bool, typer.Option(help="Follow the job's log to its end.")] = True,
) -> None:
    """Start a training job from flags (as kiln.Estimator does) or from a request file."""
    session = _session()
    if spec is not None:
        if entry_point is not None:
            raise ValidationError("Give either --spec or --entry-point, not both")
        name = _create_from_spec(session, spec)
    elif entry_point is None:
        raise ValidationError("Give --entry-point (with the flags) or --spec FILE")
    else:
        estimator = Estimator(
            entry_point,
            source_dir=source_dir,
            hyperparameters={k: _json_or_text(v) for k, v in _pairs(hyperparameter, "-p").items()},
            instance_type=instance_type,
            instance_count=instance_count,
            output_path=output_path,
            max_run=max_run,
            sagemaker_session=session,
        )
        estimator.fit(_channels(input_), wait=False, job_name=job_name)
        assert estimator.latest_training_job is not None  # fit() has just set it
        name = estimator.latest_training_job.name
    _stderr.print(f"Training job {name}")
    if not wait:
        typer.echo(name)
        return
    try:
        session.wait_for_job(name, logs=True)
    except KeyboardInterrupt:
        _stderr.print(f"Stopped following {name}; it keeps running (kiln jobs stop {name})")
        raise typer.Exit(130) from None


def _create_from_spec(session: Session, path: Path) -> str:
    """Send the request in ``path`` as it is; the job's name."""
    try:
        request = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise ValidationError(f"{path}: not JSON or YAML ({e})") from None
    if not isinstance(request, dict) or "TrainingJobName" not in request:
        raise ValidationError(f"{path}: expected a CreateTrainingJob request with TrainingJobName")
    session.sagemaker_client.create_training_job(**request)
    return str(request["TrainingJobName"])


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    """``NAME=VALUE`` flags as a dict; ValidationError quoting a malformed one."""
    pairs = {}
    for value in values or []:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise ValidationError(f"{flag} {value!r}: expected NAME=VALUE")
        pairs[name] = rest
    return pairs


def _json_or_text(value: str) -> Any:
    """``3`` → 3, ``true`` → True, ``abc`` → "abc": as typed in Python, then sent json.dumps-ed."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def _channels(values: list[str] | None) -> dict[str, str]:
    """``--input`` values: ``CHANNEL=s3://…``, or a bare URI for the ``training`` channel."""
    values = values or []
    named = _pairs([v for v in values if not v.startswith("s3://")], "--input")
    bare = [v for v in values if v.startswith("s3://")]
    if len(bare) > 1:
        raise ValidationError(f"--input: only one bare URI, for the 'training' channel: {bare}")
    return {"training": bare[0], **named} if bare else named


@jobs_app.command("ls")
@_reports_errors
def list_jobs(
    status: Annotated[str | None, typer.Option(help="InProgress, Completed, Failed, …")] = None,
    name_contains: Annotated[str | None, typer.Option()] = None,
    max_results: Annotated[int, typer.Option("--max", help="At most this many.")] = 20,
) -> None:
    """List training jobs, newest first (a table on a terminal, tab-separated otherwise)."""
    query: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending"}
    if status is not None:
        query["StatusEquals"] = status
    if name_contains is not None:
        query["NameContains"] = name_contains
    pages = (
        _session()
        .sagemaker_client.get_paginator("list_training_jobs")
        .paginate(**query, PaginationConfig={"MaxItems": max_results})
    )
    _print_jobs([s for page in pages for s in page["TrainingJobSummaries"]])


def _print_jobs(summaries: list[TrainingJobSummaryTypeDef]) -> None:
    rows = [
        (
            s["TrainingJobName"],
            s["TrainingJobStatus"],
            s.get("SecondaryStatus", ""),
            f"{s['CreationTime'].astimezone():%Y-%m-%d %H:%M:%S}",
        )
        for s in summaries
    ]
    console = Console()
    if not console.is_terminal:  # pipes get lines that grep and cut can take apart
        for row in rows:
            typer.echo("\t".join(row))
        return
    table = Table("name", "status", "secondary status", "created")
    for row in rows:
        table.add_row(*row)
    console.print(table)


@jobs_app.command("describe")
@_reports_errors
def describe_job(name: Annotated[str, typer.Argument(help="Training job name.")]) -> None:
    """Print DescribeTrainingJob's answer as JSON."""
    job: dict[str, Any] = dict(_session().describe_training_job(name))
    job.pop("ResponseMetadata", None)
    typer.echo(json.dumps(job, indent=2, default=_json_default))


def _json_default(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


@jobs_app.command("stop")
@_reports_errors
def stop_job(name: Annotated[str, typer.Argument(help="Training job name.")]) -> None:
    """Ask a training job to stop (its script gets SIGTERM, then a grace period)."""
    _session().sagemaker_client.stop_training_job(TrainingJobName=name)
    _stderr.print(f"Stopping training job {name}")


@app.command()
@_reports_errors
def logs(
    job: Annotated[str, typer.Argument(help="Training job name.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Until the job ends.")] = False,
) -> None:
    """Print a training job's log."""
    session = _session()
    LogReader(session.settings.endpoint, job, _echo).read(follow=follow)


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def main() -> None:
    """The ``kiln`` command."""
    app()


if __name__ == "__main__":
    main()
