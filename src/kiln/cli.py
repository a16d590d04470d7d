"""``kiln``: the command line.

    kiln server [--host H] [--port P] [--s3-port Q]    run the server in the foreground
    kiln env                                           export lines for plain boto3 / aws CLI
    kiln upload PATH [--bucket B] [--key-prefix K]     put data in the store; prints its URI
    kiln train (--entry-point F [flags] | --spec FILE) start a training job, follow its log
    kiln jobs ls | describe NAME | stop NAME           training jobs
    kiln logs (JOB | --endpoint E) [--follow]          a job's or an endpoint's log
    kiln deploy --model-data URI_OR_PATH [flags]       a model on a new endpoint (as kiln.Model)
    kiln invoke ENDPOINT (--body JSON | --file F)      one prediction; the body on stdout
    kiln models ls | describe NAME | delete NAME       models
    kiln endpoints ls | describe NAME | delete NAME    endpoints (describe: replica start phases)
    kiln endpoints compare NAME [--hours H]            the A/B report of its variants, a verdict
    kiln endpoints metrics NAME [--once]               per-variant traffic, latency, load (live)
    kiln serve --model-data URI_OR_PATH [flags]        one replica here, in the foreground
    kiln keys create --user U [--policy P] [--bearer] | ls | revoke ID   credentials
    kiln roles put NAME --policy P                     what jobs with that RoleArn may do
    kiln monitor traffic | drift ENDPOINT [--since 1h]  over time, as charts (``cli_monitor``)
    kiln monitor rules create|list|describe|delete|firings   retraining rules (cli_rules.py)
    kiln monitor suggest-baseline --dataset D --output O   statistics.json, constraints.json

Every command talks to the server the way the SDK does (boto3, CloudWatch Logs included). Errors
print as one red line, ``error: <code>: <message>``, and exit with status 1.
"""

from __future__ import annotations

import functools
import json
import logging
import shlex
import signal
import sys
import tempfile
import time
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec

import typer
import yaml
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from rich.console import Console
from rich.table import Table

from kiln.cli_rules import rules_app
from kiln.config import Settings
from kiln.errors import KilnError, ValidationError
from kiln.sdk import Estimator, Model, Predictor, Session, compare_variants
from kiln.sdk.baselines import make_baseline
from kiln.sdk.environment import client_environment, write_sagemaker_config
from kiln.sdk.local import LOCAL_INSTANCE_TYPES, prepare_files
from kiln.sdk.logs import POLL_SECONDS, JobFollower, endpoint_log, job_log
from kiln.sdk.signing import call_native
from kiln.services.monitoring.baselines import DatasetFormat, DatasetKind
from kiln.services.monitoring.report import AbReport, ProblemType

if TYPE_CHECKING:
    from mypy_boto3_sagemaker.type_defs import TrainingJobSummaryTypeDef
    from mypy_boto3_sagemaker_runtime.type_defs import InvokeEndpointInputTypeDef

P = ParamSpec("P")

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Kiln: a self-hosted ML platform that speaks SageMaker's API.",
)
jobs_app = typer.Typer(no_args_is_help=True, help="List, describe and stop training jobs.")
app.add_typer(jobs_app, name="jobs")
models_app = typer.Typer(no_args_is_help=True, help="List, describe and delete models.")
app.add_typer(models_app, name="models")
endpoints_app = typer.Typer(no_args_is_help=True, help="List, describe and delete endpoints.")
app.add_typer(endpoints_app, name="endpoints")
keys_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke credentials.")
app.add_typer(keys_app, name="keys")
roles_app = typer.Typer(no_args_is_help=True, help="Give roles (a job's RoleArn) a policy.")
app.add_typer(roles_app, name="roles")

_stderr = Console(stderr=True, highlight=False, soft_wrap=True)
_WILDCARD_HOSTS = ("0.0.0.0", "::", "")
# What a file's suffix says its body is, for `kiln invoke --file` without --content-type.
_CONTENT_TYPES = {".csv": "text/csv", ".npy": "application/x-npy", ".json": "application/json"}
_TEXT_TYPES = ("application/json", "text/")
_JSON = "application/json"

# The options every `ls` command takes.
_NameContains = Annotated[str | None, typer.Option()]
_MaxResults = Annotated[int, typer.Option("--max", help="At most this many.")]


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
        except urllib.error.HTTPError as e:
            raise _fail(_http_error_text(e)) from None
        except urllib.error.URLError as e:
            raise _fail(f"Could not reach Kiln's native endpoint: {e.reason}") from None

    return run


def _http_error_text(error: urllib.error.HTTPError) -> str:
    try:
        document = json.loads(error.read())
        return f"{document.get('__type', error.code)}: {document.get('message', '')}"
    except ValueError:
        return f"HTTP {error.code}: {error.reason}"


def _settings(*, is_server: bool = False) -> Settings:
    """The environment's settings (a client's include where the running server listens); a bad
    ``KILN_*`` value is the user's error, not a crash."""
    try:
        return Settings.from_env() if is_server else Settings.for_client()
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
    no_auth: Annotated[
        bool,
        typer.Option("--no-auth", help="Accept unsigned requests (loopback only) [KILN_AUTH=0]."),
    ] = False,
) -> None:
    """Run the Kiln server in the foreground until Ctrl-C or SIGTERM."""
    from kiln.server import serve  # the server's dependencies load only for this command

    settings = _settings(is_server=True).with_ports(port=port, s3_port=s3_port)
    if host is not None:
        settings = _listening_on(settings, host)
    if no_auth:
        settings = replace(settings, auth=False)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s:     %(name)s: %(message)s")
    logging.getLogger("kiln").setLevel(logging.INFO)
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
    """Print export lines that point boto3, the aws CLI and the sagemaker SDK at Kiln.

    Use: eval "$(kiln env)". The addresses are the running server's (KILN_HOME/server.json)
    unless KILN_ENDPOINT, KILN_PORT, KILN_S3_* or KILN_REGION say otherwise.
    """
    settings = _settings()
    write_sagemaker_config(settings)
    for name, value in client_environment(settings).items():
        typer.echo(f"export {name}={shlex.quote(value)}")
    if settings.s3_credentials != settings.credentials:
        _stderr.print(
            "note: the external S3 store has its own keys (KILN_S3_ACCESS_KEY_ID); "
            "plain S3 clients need those instead"
        )


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
    name_contains: _NameContains = None,
    max_results: _MaxResults = 20,
) -> None:
    """List training jobs, newest first (a table on a terminal, tab-separated otherwise)."""
    query = _list_query(max_results, StatusEquals=status, NameContains=name_contains)
    pages = _session().sagemaker_client.get_paginator("list_training_jobs").paginate(**query)
    _print_jobs([s for page in pages for s in page["TrainingJobSummaries"]])


def _list_query(max_results: int, **filters: str | None) -> dict[str, Any]:
    """A List call's arguments: newest first, at most ``max_results``, the filters given."""
    given = {name: value for name, value in filters.items() if value is not None}
    return {
        "SortBy": "CreationTime",
        "SortOrder": "Descending",
        "PaginationConfig": {"MaxItems": max_results},
        **given,
    }


def _print_jobs(summaries: list[TrainingJobSummaryTypeDef]) -> None:
    rows = [
        (
            s["TrainingJobName"],
            s["TrainingJobStatus"],
            s.get("SecondaryStatus", ""),
            _when(s["CreationTime"]),
        )
        for s in summaries
    ]
    _print_rows(("name", "status", "secondary status", "created"), rows)


def _when(moment: datetime) -> str:
    return f"{moment.astimezone():%Y-%m-%d %H:%M:%S}"


def _print_rows(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> None:
    """A table on a terminal; tab-separated lines (no header) for grep and cut otherwise."""
    console = Console()
    if not console.is_terminal:
        for row in rows:
            typer.echo("\t".join(row))
        return
    table = Table(*header)
    for row in rows:
        table.add_row(*row)
    console.print(table)


@jobs_app.command("describe")
@_reports_errors
def describe_job(name: Annotated[str, typer.Argument(help="Training job name.")]) -> None:
    """Print DescribeTrainingJob's answer as JSON."""
    _print_json(dict(_session().describe_training_job(name)))


def _print_json(answer: dict[str, Any]) -> None:
    """An API answer as indented JSON, without boto3's ResponseMetadata."""
    answer.pop("ResponseMetadata", None)
    typer.echo(json.dumps(answer, indent=2, default=_json_default))


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
    job: Annotated[str | None, typer.Argument(help="Training job name.")] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="An endpoint's log (its replicas') instead of a job's.")
    ] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Until the job ends (an endpoint: Ctrl-C).")
    ] = False,
) -> None:
    """Print a training job's or an endpoint's log, from CloudWatch Logs' API."""
    if (job is None) == (endpoint is None):
        raise ValidationError("kiln logs: give a job name or --endpoint NAME (one of the two)")
    session = _session()
    if endpoint is not None:
        session.sagemaker_client.describe_endpoint(EndpointName=endpoint)
        _tail(endpoint_log(session.logs_client, endpoint, _echo).read, follow)
        return
    assert job is not None
    if follow:
        describe = functools.partial(session.describe_training_job, job)
        JobFollower(describe, session.logs_client, job, sys.stdout, show_transitions=False).follow()
        return
    hosts = session.describe_training_job(job)["ResourceConfig"]["InstanceCount"]
    job_log(session.logs_client, job, _echo, hosts=hosts).read()


def _tail(read: Callable[[], None], follow: bool) -> None:
    read()
    while follow:
        try:
            time.sleep(POLL_SECONDS)
        except KeyboardInterrupt:
            return
        read()


def _echo(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


# -- hosting ---------------------------------------------------------------------------------


@app.command()
@_reports_errors
def deploy(
    model_data: Annotated[
        str, typer.Option(help="s3://…/model.tar.gz, or a local model.tar.gz or folder.")
    ],
    entry_point: Annotated[
        str | None, typer.Option(help="Inference code (model_fn, …); in --source-dir if given.")
    ] = None,
    source_dir: Annotated[str | None, typer.Option(help="Folder shipped with it.")] = None,
    name: Annotated[
        str | None, typer.Option(help="Endpoint (and model) name. Default: kiln-python-<time>.")
    ] = None,
    instance_type: Annotated[str, typer.Option()] = "ml.m5.large",
    instance_count: Annotated[int, typer.Option()] = 1,
    env: Annotated[
        list[str] | None, typer.Option("--env", "-e", help="NAME=VALUE for the model, repeatable.")
    ] = None,
    wait: Annotated[bool, typer.Option(help="Wait until the endpoint is InService.")] = True,
) -> None:
    """Deploy a model to a new endpoint, as kiln.Model(...).deploy() does; prints its name."""
    if instance_type in LOCAL_INSTANCE_TYPES:
        raise ValidationError(
            f"--instance-type {instance_type}: `kiln serve` runs a model on this machine"
        )
    model = Model(
        model_data,
        entry_point=entry_point,
        source_dir=source_dir,
        env=_pairs(env, "--env"),
        name=name,
        sagemaker_session=_session(),
    )
    predictor = model.deploy(
        initial_instance_count=instance_count,
        instance_type=instance_type,
        endpoint_name=name,
        wait=wait,
    )
    state = "is InService" if wait else "is being created"
    _stderr.print(f"Endpoint {predictor.endpoint_name} {state} (model {model.name})")
    typer.echo(predictor.endpoint_name)


@app.command()
@_reports_errors
def invoke(
    endpoint: Annotated[str, typer.Argument(help="Endpoint name.")],
    body: Annotated[str | None, typer.Option(help="The request body, e.g. a JSON text.")] = None,
    file: Annotated[
        str | None, typer.Option(help="Read the body from this file (- for stdin).")
    ] = None,
    content_type: Annotated[
        str | None, typer.Option(help="Default: by --file's suffix, else application/json.")
    ] = None,
    accept: Annotated[str | None, typer.Option(help="Media type to answer in.")] = None,
    target_variant: Annotated[str | None, typer.Option(help="Send to this variant.")] = None,
) -> None:
    """Send one request to an endpoint; the answer on stdout, the variant on stderr."""
    request: InvokeEndpointInputTypeDef = {
        "EndpointName": endpoint,
        "Body": _request_body(body, file),
        "ContentType": content_type or _CONTENT_TYPES.get(Path(file or "").suffix, _JSON),
    }
    if accept is not None:
        request["Accept"] = accept
    if target_variant is not None:
        request["TargetVariant"] = target_variant
    answer = _session().sagemaker_runtime_client.invoke_endpoint(**request)
    payload = answer["Body"].read()
    returned = answer.get("ContentType", "")
    text = returned.startswith(_TEXT_TYPES) and not payload.endswith(b"\n")
    typer.echo(payload, nl=text)
    variant = answer.get("InvokedProductionVariant", "?")
    _stderr.print(f"variant {variant}, {returned or 'no content type'}, {len(payload)} bytes")


def _request_body(body: str | None, file: str | None) -> bytes:
    """The bytes of --body or --file; ValidationError unless exactly one is given."""
    if body is not None and file is None:
        return body.encode()
    if file is None or body is not None:
        raise ValidationError("Give the request as --body TEXT or --file PATH (- for stdin)")
    if file == "-":
        return sys.stdin.buffer.read()
    try:
        return Path(file).read_bytes()
    except OSError as e:
        raise ValidationError(f"--file {file!r}: {e.strerror}") from None


@app.command()
@_reports_errors
def serve(
    model_data: Annotated[
        str, typer.Option(help="A model.tar.gz or folder (local, file:// or s3://).")
    ],
    entry_point: Annotated[
        str | None, typer.Option(help="Inference code; default: the archive's code/inference.py.")
    ] = None,
    source_dir: Annotated[
        str | None, typer.Option(help="Folder (or s3:// sourcedir.tar.gz) with the code.")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="0 picks a free port (printed when listening).")] = 8080,
) -> None:
    """Serve a model here as one replica (GET /ping, POST /invocations) until Ctrl-C."""
    # The server's dependencies load only for this command (uvicorn, the runtime).
    from kiln.runtime import model_server

    with tempfile.TemporaryDirectory(prefix="kiln-serve-") as folder:
        workdir = Path(folder)
        files = prepare_files(model_data, entry_point, source_dir, workdir, lambda: _session().s3)
        argv = ["--model-dir", str(files.model_dir), "--host", host, "--port", str(port)]
        if files.code_dir is not None:
            argv += ["--code-dir", str(files.code_dir)]
        if files.entry_point is not None:
            argv += ["--entry-point", files.entry_point]
        # The model server re-raises SIGTERM once it has shut down: end through this handler
        # instead, so that the temporary folder is removed on the way out.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            code = model_server.main(argv)
        except KeyboardInterrupt:
            code = 130  # 128 + SIGINT, after a clean shutdown
    if code:
        raise typer.Exit(code)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise typer.Exit(128 + signum)


@models_app.command("ls")
@_reports_errors
def list_models(
    name_contains: _NameContains = None,
    max_results: _MaxResults = 20,
) -> None:
    """List models, newest first."""
    query = _list_query(max_results, NameContains=name_contains)
    pages = _session().sagemaker_client.get_paginator("list_models").paginate(**query)
    rows = [(m["ModelName"], _when(m["CreationTime"])) for p in pages for m in p["Models"]]
    _print_rows(("name", "created"), rows)


@models_app.command("describe")
@_reports_errors
def describe_model(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Print DescribeModel's answer as JSON."""
    _print_json(dict(_session().sagemaker_client.describe_model(ModelName=name)))


@models_app.command("delete")
@_reports_errors
def delete_model(name: Annotated[str, typer.Argument(help="Model name.")]) -> None:
    """Delete a model (endpoints that serve it keep running)."""
    _session().sagemaker_client.delete_model(ModelName=name)
    _stderr.print(f"Deleted model {name}")


@endpoints_app.command("ls")
@_reports_errors
def list_endpoints(
    status: Annotated[str | None, typer.Option(help="InService, Creating, Failed, …")] = None,
    name_contains: _NameContains = None,
    max_results: _MaxResults = 20,
) -> None:
    """List endpoints, newest first."""
    query = _list_query(max_results, StatusEquals=status, NameContains=name_contains)
    pages = _session().sagemaker_client.get_paginator("list_endpoints").paginate(**query)
    rows = [
        (e["EndpointName"], e["EndpointStatus"], _when(e["CreationTime"]))
        for page in pages
        for e in page["Endpoints"]
    ]
    _print_rows(("name", "status", "created"), rows)


@endpoints_app.command("describe")
@_reports_errors
def describe_endpoint(name: Annotated[str, typer.Argument(help="Endpoint name.")]) -> None:
    """Print DescribeEndpoint's answer as JSON, with each replica's start phases (Replicas)."""
    session = _session()
    described: dict[str, Any] = dict(session.sagemaker_client.describe_endpoint(EndpointName=name))
    described["Replicas"] = session.describe_endpoint_replicas(name)
    _print_json(described)


@endpoints_app.command("metrics")
@_reports_errors
def endpoint_metrics(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    once: Annotated[bool, typer.Option(help="Print once and exit (for scripts).")] = False,
    minutes: Annotated[int, typer.Option(min=1, max=1440, help="Window to read.")] = 5,
    interval: Annotated[float, typer.Option(min=0.5, help="Seconds between refreshes.")] = 5.0,
) -> None:
    """Per variant: invocations/min, errors, model latency p50/p99, instances, CPU and memory."""
    from rich.live import Live

    from kiln.sdk.metrics import endpoint_metrics as read_metrics

    session = _session()
    if once:
        rows = [_metrics_row(v) for v in read_metrics(name, session, minutes)]
        _print_rows(_METRICS_HEADER, rows)
        return
    with Live(auto_refresh=False) as live:
        while True:
            table = Table(*_METRICS_HEADER, title=f"{name}: last {minutes} min")
            for variant in read_metrics(name, session, minutes):
                table.add_row(*_metrics_row(variant))
            live.update(table, refresh=True)
            time.sleep(interval)


_METRICS_HEADER = ("variant", "instances", "inv/min", "4xx", "5xx", "model err", "p50 ms",
                   "p99 ms", "cpu %", "mem %")  # fmt: skip


def _metrics_row(v: Any) -> tuple[str, ...]:
    def number(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    return (
        v.variant, str(v.instances), number(v.invocations_per_minute), str(v.client_errors),
        str(v.server_errors), str(v.model_errors), number(v.latency_p50_ms, 2),
        number(v.latency_p99_ms, 2), number(v.cpu_percent), number(v.memory_percent),
    )  # fmt: skip


@endpoints_app.command("delete")
@_reports_errors
def delete_endpoint(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    keep_config: Annotated[bool, typer.Option(help="Keep its endpoint config.")] = False,
) -> None:
    """Delete an endpoint and its endpoint config, as predictor.delete_endpoint() does."""
    Predictor(name, _session()).delete_endpoint(delete_endpoint_config=not keep_config)
    _stderr.print(f"Deleted endpoint {name}" + ("" if keep_config else " and its config"))


@endpoints_app.command("compare")
@_reports_errors
def compare_endpoint_variants(
    name: Annotated[str, typer.Argument(help="Endpoint name.")],
    hours: Annotated[float, typer.Option(help="How far back to look.")] = 24,
) -> None:
    """Compare an endpoint's variants: traffic, latency, errors, accuracy or RMSE, and a verdict."""
    report = compare_variants(name, hours, _session())
    Console(highlight=False).print(report_table(report))
    typer.echo(report.verdict)


def report_table(report: AbReport) -> Table:
    """The A/B report as a rich table (the CLI's and the demo's)."""
    table = Table(title=f"{report.endpoint}: the last {_hours(report)}")
    is_regression = report.problem_type is ProblemType.REGRESSION
    quality = "RMSE" if is_regression else "accuracy"
    for column in ("variant", "share", "p50 ms", "p95 ms", "p99 ms", "errors", "labelled", quality):
        table.add_column(column, justify="left" if column == "variant" else "right")
    for v in report.variants:
        errors = [r for r in (v.client_error_rate, v.server_error_rate) if r is not None]
        latencies = (v.latency_p50_ms, v.latency_p95_ms, v.latency_p99_ms)
        table.add_row(
            f"{v.variant} (shadow)" if v.is_shadow else v.variant,
            _number(v.traffic_share, "{:.1%}"),
            *(_number(ms, "{:.1f}") for ms in latencies),
            _number(sum(errors) if errors else None, "{:.2%}"),
            str(v.labelled),
            _number(v.rmse, "{:.4g}") if is_regression else _number(v.accuracy, "{:.1%}"),
        )
    return table


def _hours(report: AbReport) -> str:
    hours = (report.end - report.start) / 3600
    return f"{hours:g} hours"


def _number(value: float | None, form: str) -> str:
    return "–" if value is None else form.format(value)


_Policy = Annotated[
    str | None,
    typer.Option(
        help="admin, ml-engineer, viewer, invoker:<endpoint>[,…], or @FILE with a JSON policy."
    ),
]


@keys_app.command("create")
@_reports_errors
def create_key(
    user: Annotated[str, typer.Option(help="The user the key belongs to (created if new).")],
    policy: _Policy = None,
    bearer: Annotated[bool, typer.Option(help="An API key for curl (Bearer), not SigV4.")] = False,
    description: Annotated[str, typer.Option(help="A note shown by `kiln keys ls`.")] = "",
) -> None:
    """Create a credential and print it once, as export lines (SigV4) or the API key (--bearer)."""
    document: dict[str, Any] = {"User": user, "Kind": "bearer" if bearer else "access"}
    if policy is not None:
        document["Policy"] = _policy_text(policy)
    if description:
        document["Description"] = description
    answer = call_native(_settings(), "POST", "/kiln/v1/keys", document)
    if bearer:
        typer.echo(answer["ApiKey"])
        _stderr.print("Send it as: Authorization: Bearer <key>  (shown once; keep it safe)")
        return
    typer.echo(f"export AWS_ACCESS_KEY_ID={shlex.quote(answer['AccessKeyId'])}")
    typer.echo(f"export AWS_SECRET_ACCESS_KEY={shlex.quote(answer['SecretAccessKey'])}")
    _stderr.print("The secret is shown once; keep it safe.")


@keys_app.command("ls")
@_reports_errors
def list_keys() -> None:
    """List live credentials (never their secrets)."""
    keys = call_native(_settings(), "GET", "/kiln/v1/keys")["Keys"]
    rows = [
        (k["KeyId"], k["Kind"], k["User"], _when(datetime.fromtimestamp(k["CreationTime"])),
         k["Description"])
        for k in keys
    ]  # fmt: skip
    _print_rows(("key id", "kind", "user", "created", "description"), rows)


@keys_app.command("revoke")
@_reports_errors
def revoke_key(
    key_id: Annotated[str, typer.Argument(help="The key id `kiln keys ls` shows.")],
) -> None:
    """Revoke a credential; requests signed with it are refused from now on."""
    call_native(_settings(), "DELETE", f"/kiln/v1/keys/{key_id}")
    _stderr.print(f"Revoked {key_id}")


@roles_app.command("put")
@_reports_errors
def put_role(
    name: Annotated[str, typer.Argument(help="Role name, as in arn:aws:iam::…:role/NAME.")],
    policy: Annotated[str, typer.Option(help="viewer, ml-engineer, … or @FILE (JSON policy).")],
) -> None:
    """Set the policy that jobs and replicas running with this role get."""
    answer = call_native(
        _settings(), "PUT", f"/kiln/v1/roles/{name}", {"Policy": _policy_text(policy)}
    )
    _stderr.print(f"Role {answer['Arn']} set")


def _policy_text(policy: str) -> str:
    if policy.startswith("@"):
        try:
            return Path(policy[1:]).read_text()
        except OSError as e:
            raise ValidationError(f"Cannot read the policy file {policy[1:]}: {e}") from None
    return policy


# `kiln monitor …` lives in its own module, which uses the helpers above: imported here, last.
from kiln.cli_monitor import monitor_app  # noqa: E402

app.add_typer(monitor_app, name="monitor")
monitor_app.add_typer(rules_app(_reports_errors, _session, _print_rows), name="rules")


@monitor_app.command("suggest-baseline")
@_reports_errors
def suggest_baseline(
    dataset: Annotated[str, typer.Option(help="A file, a folder, or an s3:// prefix.")],
    output: Annotated[str, typer.Option(help="A folder, or an s3:// prefix.")],
    dataset_format: Annotated[
        DatasetKind, typer.Option(help="How the files are read.")
    ] = DatasetKind.CSV,
    header: Annotated[bool, typer.Option(help="CSV: the first row names the columns.")] = True,
) -> None:
    """Write statistics.json and constraints.json of a data set (DefaultModelMonitor's
    suggest_baseline); local files need no server."""
    made = make_baseline(
        dataset,
        DatasetFormat(dataset_format, header=header and dataset_format is DatasetKind.CSV),
        output,
        _session,
        lambda line: _stderr.print(line, markup=False),
    )
    typer.echo(made.statistics_uri)
    typer.echo(made.constraints_uri)


def main() -> None:
    """The ``kiln`` command."""
    app()


if __name__ == "__main__":
    main()
