"""Native retraining-rule paths (SageMaker has no such API; docs/retraining.md).

    POST   /kiln/v1/retraining-rules                  {"RuleName", "Trigger", "Actions"}
           → 200 {"RuleName", "RuleArn"}
    GET    /kiln/v1/retraining-rules                  → 200 {"Rules": [{"RuleName", "RuleArn",
                                                               "TriggerKind", "CreationTime"}]}
    GET    /kiln/v1/retraining-rules/{name}           → 200 the rule, "RuleArn", "LastFiring"
    DELETE /kiln/v1/retraining-rules/{name}           → 200 {}
    GET    /kiln/v1/retraining-rules/{name}/firings   → 200 {"Firings": [{"FiringId",
           "TriggerTime", "Trigger", "Status", "Evidence", "TrainingJob", "Webhook"}]}

Errors in AWS's JSON shape: 404 ``ResourceNotFound``, 400 ``ResourceInUse`` (the name is
taken), 400 ``ValidationException``, 400 ``AccessDeniedException``. The gate authorises each
path as ``sagemaker:{Create,List,Describe,Delete}RetrainingRule`` /
``sagemaker:ListRetrainingRuleFirings``; creating a rule with a training template also needs
what CreateTrainingJob with that template needs (``sagemaker:CreateTrainingJob``,
``iam:PassRole`` on its role), since the rule starts such jobs later on the creator's word.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kiln.api.json_protocol import BadRequest, native_answers, read_limited
from kiln.api.validation import operation_model, validate
from kiln.auth.authorizer import Authorizer
from kiln.auth.errors import AuthError
from kiln.errors import ResourceInUseError, ResourceNotFoundError
from kiln.services.monitoring.actions import RetrainingRules
from kiln.services.training.service import TrainingService, check_inputs, parse_spec

_STATUS = (
    (ResourceNotFoundError, 404, "ResourceNotFound"),
    (ResourceInUseError, 400, "ResourceInUse"),
)
_PATH = "/kiln/v1/retraining-rules"


class CheckedTraining:
    """``TrainingJobs`` over Kiln's training service, with the API's own checks first."""

    def __init__(self, training: TrainingService) -> None:
        self._training = training

    def check(self, request: Mapping[str, Any]) -> None:
        """``ValidationError`` unless CreateTrainingJob would take ``request``."""
        model = operation_model("sagemaker", "CreateTrainingJob")
        assert model is not None  # botocore has modelled it since 2017
        validate(model, request)
        check_inputs(parse_spec(request))

    def start(self, request: Mapping[str, Any]) -> None:
        """Check, then create the job as ``CreateTrainingJob`` would."""
        self.check(request)
        self._training.create_training_job(request)


def retraining_routes(rules: RetrainingRules, authorizer: Authorizer) -> list[Route]:
    """The retraining-rule routes over the rules service."""

    async def create(request: Request) -> Response:
        document = await _json_object(request)
        template = document.get("Actions", {})
        template = template.get("TrainingJob", {}) if isinstance(template, dict) else {}
        if isinstance(template, dict) and isinstance(template.get("Template"), dict):
            _authorise_template(authorizer, template["Template"])
        return JSONResponse(await asyncio.to_thread(rules.create, document))

    async def list_rules(_request: Request) -> Response:
        return JSONResponse(await asyncio.to_thread(rules.list_rules))

    async def describe(request: Request) -> Response:
        name = request.path_params["name"]
        return JSONResponse(await asyncio.to_thread(rules.describe, name))

    async def delete(request: Request) -> Response:
        await asyncio.to_thread(rules.delete, request.path_params["name"])
        return JSONResponse({})

    async def firings(request: Request) -> Response:
        name = request.path_params["name"]
        return JSONResponse(await asyncio.to_thread(rules.firings, name))

    def route(path: str, handler: Any, method: str) -> Route:
        return Route(path, native_answers(handler, _STATUS), methods=[method])

    return [
        route(_PATH, create, "POST"),
        route(_PATH, list_rules, "GET"),
        route(_PATH + "/{name}", describe, "GET"),
        route(_PATH + "/{name}", delete, "DELETE"),
        route(_PATH + "/{name}/firings", firings, "GET"),
    ]


def _authorise_template(authorizer: Authorizer, template: Mapping[str, Any]) -> None:
    try:
        authorizer.operation("sagemaker", "CreateTrainingJob", template)
    except AuthError as e:
        raise BadRequest(e.refusal.status, e.refusal.code("json"), e.message) from None


async def _json_object(request: Request) -> dict[str, Any]:
    raw = await read_limited(request)
    try:
        document = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as e:
        raise BadRequest(400, "SerializationException", f"Body is not valid JSON: {e}") from None
    if not isinstance(document, dict):
        raise BadRequest(400, "SerializationException", "Body must be a JSON object")
    return document
