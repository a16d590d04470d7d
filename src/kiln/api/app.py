"""The ASGI app of ``kiln server``: AWS APIs, invocation router, native endpoints, health.

POST /                         every AWS API Kiln serves: JSON 1.1 by ``X-Amz-Target``
                               (SageMaker, CloudWatch Logs, …), query protocol by form body
                               (STS, IAM), told apart by the SigV4 scope's service
POST /endpoints/{e}/invocations   sagemaker-runtime, straight to the router
GET  /ping                     liveness (the only path open without credentials)
GET  /metrics                  Prometheus text (``api/prometheus.py``), as cloudwatch:GetMetricData
GET  /kiln/v1/…                native paths for what the AWS APIs do not cover
     /kiln/v1/keys, /roles     key management (``api/keys.py``)
     /kiln/v1/endpoints/{e}/feedback, /report   A/B testing (``api/ab_testing.py``)
     /kiln/v1/endpoints/{e}/timeline   traffic and drift over time (``api/timeline.py``)
     /kiln/v1/retraining-rules[/{r}[/firings]]   retraining rules (``api/retraining.py``)

Everything passes the auth gate (``api/gate.py``) first; ``classify`` tells it which action a
path is, and the AWS APIs authorise each operation once they have read it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from kiln.api.errors import error_body
from kiln.api.gate import AuthGate, Classifier
from kiln.api.json_protocol import Authorize, JsonApi, unknown_operation
from kiln.api.logs import JobProgress, TrainingLogs
from kiln.api.query_protocol import QueryApi, is_query_request, query_error
from kiln.api.runtime import InvocationRouter
from kiln.auth.actions import log_group_arn, sagemaker_arn
from kiln.auth.authorizer import Action
from kiln.config import ACCOUNT_ID
from kiln.runtime.asgi import Receive, Scope, Send
from kiln.services.logs import LogStore


class KilnApp:
    """Invocations go straight to the router; everything else through Starlette's routing."""

    def __init__(self, router: InvocationRouter, control: Starlette) -> None:
        self.router = router
        self.control = control

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.router.handles(scope):
            await self.router(scope, receive, send)
        else:
            await self.control(scope, receive, send)


class AwsApis:
    """``POST /``: hands each request to the AWS API it is addressed to, each behind the gate."""

    def __init__(
        self,
        json_apis: Sequence[JsonApi],
        query_apis: Sequence[QueryApi],
        authorize: Authorize,
    ) -> None:
        self._json_apis = list(json_apis)
        self._query_apis = list(query_apis)
        for json_api in self._json_apis:
            json_api.authorize = authorize
        for query_api in self._query_apis:
            query_api.authorize = authorize

    async def handle(self, request: Request) -> Response:
        """Answer one AWS API request."""
        target = request.headers.get("x-amz-target")
        if target is None and is_query_request(request):
            return await self._query(request)
        for api in self._json_apis:
            if api.serves(target or ""):
                return await api.handle(request)
        return unknown_operation(target or "")

    async def _query(self, request: Request) -> Response:
        scope = _signing_service(request.headers.get("authorization", ""))
        chosen = next((api for api in self._query_apis if api.signing_name == scope), None)
        if chosen is None:
            return query_error(400, "InvalidAction", f"Kiln does not serve {scope or 'this'} API")
        return await chosen.handle(request)

    @property
    def operations(self) -> dict[str, list[str]]:
        """Every operation served, by botocore service name."""
        served = {api.service: sorted(api.operations) for api in self._json_apis}
        served.update({api.service: sorted(api.operations) for api in self._query_apis})
        return served


def _signing_service(authorization: str) -> str:
    """The service named in a SigV4 scope (``Credential=AKID/date/region/sts/aws4_request``)."""
    marker = "Credential="
    start = authorization.find(marker)
    if start < 0:
        return ""
    scope = authorization[start + len(marker) :].split(",", 1)[0].split("/")
    return scope[3] if len(scope) >= 5 else ""


async def _ping(_request: Request) -> Response:
    return PlainTextResponse("ok")


def classify(router: InvocationRouter, region: str) -> Classifier:
    """How the gate reads each path: its error protocol, and its action where the path tells."""

    def read(scope: Scope) -> tuple[str, Action | None]:
        path: str = scope["path"]
        if router.handles(scope):
            endpoint = router.endpoint_of(scope)
            return "rest", Action(
                "sagemaker:InvokeEndpoint", [sagemaker_arn(region, "endpoint", endpoint)]
            )
        if path == "/":
            headers = dict(scope["headers"])
            form = headers.get(b"content-type", b"").startswith(b"application/x-www-form")
            return ("query" if form and b"x-amz-target" not in headers else "json"), None
        if path == "/metrics":
            return "json", Action("cloudwatch:GetMetricData", ["*"])
        return "json", _native_action(scope["method"], path, region)

    return read


def _native_action(method: str, path: str, region: str) -> Action | None:
    parts = path.strip("/").split("/")
    if parts[:2] != ["kiln", "v1"] or len(parts) < 3:
        return None
    users = [f"arn:aws:iam::{ACCOUNT_ID}:user/*"]
    match parts[2:], method:
        case ["training-jobs", name, "logs"], _:
            group = log_group_arn(region, "/aws/sagemaker/TrainingJobs")
            return Action("logs:GetLogEvents", [group, sagemaker_arn(region, "training-job", name)])
        case ["endpoints", name, "replicas" | "report"], _:
            return Action("sagemaker:DescribeEndpoint", [sagemaker_arn(region, "endpoint", name)])
        case ["endpoints", _, "timeline"], _:
            # Every number in it is a CloudWatch metric: read as GetMetricData reads them.
            return Action("cloudwatch:GetMetricData", ["*"])
        case ["endpoints", name, "feedback"], _:
            # No AWS operation takes ground truth (Model Monitor reads it from S3): Kiln's own.
            return Action("sagemaker:PutGroundTruth", [sagemaker_arn(region, "endpoint", name)])
        case ["retraining-rules", *rest], _:
            return _retraining_action(method, rest, region)
        case ["keys"], "POST":
            return Action("iam:CreateAccessKey", users)
        case ["keys"], _:
            return Action("iam:ListAccessKeys", users)
        case ["keys", _], _:
            return Action("iam:DeleteAccessKey", users)
        case ["roles", name], _:
            return Action("iam:PutRolePolicy", [f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"])
    return Action("kiln:Unknown", ["*"])


def _retraining_action(method: str, rest: list[str], region: str) -> Action:
    # No AWS API has retraining rules: Kiln's own actions, in SageMaker's namespace.
    rule = sagemaker_arn(region, "retraining-rule", rest[0] if rest else "*")
    match rest, method:
        case [], "POST":
            return Action("sagemaker:CreateRetrainingRule", [rule])
        case [], _:
            return Action("sagemaker:ListRetrainingRules", ["*"])
        case [_], "DELETE":
            return Action("sagemaker:DeleteRetrainingRule", [rule])
        case [_], _:
            return Action("sagemaker:DescribeRetrainingRule", [rule])
        case [_, "firings"], _:
            return Action("sagemaker:ListRetrainingRuleFirings", [rule])
    return Action("kiln:Unknown", ["*"])


def build_app(
    apis: AwsApis,
    router: InvocationRouter,
    *,
    gate: Callable[[KilnApp], AuthGate],
    key_api: list[Route],
    logs: LogStore,
    job_progress: Callable[[str], JobProgress | None],
    endpoint_replicas: Callable[[str], list[dict[str, Any]] | None],
    ab_testing: Sequence[Route] = (),
    timeline: Sequence[Route] = (),
    retraining: Sequence[Route] = (),
    metrics_page: Callable[[Request], Awaitable[Response]] | None = None,
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
) -> AuthGate:
    """The server's routes over the given APIs, behind the auth gate."""

    async def replicas(request: Request) -> Response:
        found = endpoint_replicas(request.path_params["name"])
        if found is None:
            return JSONResponse(error_body("ValidationException", "Could not find endpoint."), 400)
        return JSONResponse({"Replicas": found})

    routes = [
        Route("/", apis.handle, methods=["POST"]),
        Route("/ping", _ping, methods=["GET"]),
        Route(
            "/kiln/v1/training-jobs/{name}/logs",
            TrainingLogs(logs, job_progress).handle,
            methods=["GET"],
        ),
        Route("/kiln/v1/endpoints/{name}/replicas", replicas, methods=["GET"]),
        *key_api,
        *ab_testing,
        *timeline,
        *retraining,
    ]
    if metrics_page is not None:
        routes.append(Route("/metrics", metrics_page, methods=["GET"]))
    return gate(KilnApp(router, Starlette(routes=routes, lifespan=lifespan or _no_lifespan)))


@asynccontextmanager
async def _no_lifespan(_app: Starlette) -> AsyncIterator[None]:
    yield
