"""AWS's query protocol (STS, IAM, CloudWatch for older clients): form-encoded requests, XML
answers, as botocore speaks it.

    POST /   Content-Type: application/x-www-form-urlencoded
             Action=<Operation>&Version=<apiVersion>&<Member>=…&<List>.member.<n>=…
    200      <OpResponse><OpResult>…output shape…</OpResult><ResponseMetadata>…</…></OpResponse>
    4xx      <ErrorResponse><Error><Type>Sender</Type><Code>…</Code><Message>…</Message></Error>
             <RequestId>…</RequestId></ErrorResponse>

Requests are read and answers written from botocore's model of the operation: members by name,
lists as ``member`` items, timestamps in ISO 8601. With ``check_responses`` (tests), answers are
checked against the output shape as the JSON protocol's are.
"""

from __future__ import annotations

import datetime
import logging
import re
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl
from xml.sax.saxutils import escape

from botocore.model import ListShape, MapShape, Shape, StructureShape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from kiln.api.json_protocol import Authorize, BadRequest, ErrorCodes, Operation, read_limited
from kiln.api.validation import check_output, operation_model, validate
from kiln.auth.errors import AuthError
from kiln.errors import KilnError
from kiln.shapes.aws import service_model

log = logging.getLogger(__name__)


def is_query_request(request: Request) -> bool:
    """Whether ``request`` speaks the query protocol."""
    content_type = request.headers.get("content-type", "")
    return content_type.startswith("application/x-www-form-urlencoded")


class QueryApi:
    """One AWS service over the query protocol."""

    def __init__(
        self,
        service: str,
        operations: Mapping[str, Operation],
        *,
        check_responses: bool = False,
        authorize: Authorize | None = None,
        error_codes: ErrorCodes = (),
    ) -> None:
        self.service = service
        self.operations = dict(operations)
        metadata = service_model(service).metadata
        # The service in a request's SigV4 scope: CloudWatch signs as ``monitoring``.
        self.signing_name = str(
            metadata.get("signingName") or metadata.get("endpointPrefix") or service
        )
        self._namespace = str(
            metadata.get("xmlNamespace")
            or f"https://{service}.amazonaws.com/doc/{metadata['apiVersion']}/"
        )
        self._error_codes = list(error_codes)
        self._check_responses = check_responses
        self.authorize = authorize  # set by AwsApis for every API it serves

    async def handle(self, request: Request) -> Response:
        """Answer one request."""
        try:
            form = dict(parse_qsl((await read_limited(request)).decode("utf-8", "replace")))
        except BadRequest as e:
            return self._error(e.status, e.code, str(e))
        name = form.pop("Action", "")
        operation = self.operations.get(name)
        model = operation_model(self.service, name) if name else None
        if operation is None or model is None:
            return self._error(
                400, "InvalidAction", f"Kiln's {self.service} has no action {name!r}"
            )
        try:
            params = _read_members(form, model.input_shape, "") if model.input_shape else {}
            if self.authorize is not None:
                self.authorize(self.service, name, params)
            validate(model, params)
            answer = await run_in_threadpool(operation, params)
        except BadRequest as e:
            return self._error(e.status, e.code, str(e))
        except AuthError as e:
            return self._error(e.refusal.status, e.refusal.code("query"), e.message)
        except KilnError as e:
            code = next((c for kind, c in self._error_codes if isinstance(e, kind)), None)
            return self._error(400, code or "ValidationError", e.message)
        except Exception:
            log.exception("%s.%s failed", self.service, name)
            return self._error(500, "InternalFailure", "The request processing has failed.")
        problems = check_output(model, answer) if self._check_responses else []
        if problems:
            log.error("%s.%s answered outside its shape: %s", self.service, name, problems)
            return self._error(500, "InternalFailure", f"{name} answer: " + "; ".join(problems))
        result = ""
        if model.output_shape is not None:
            wrapper = model.output_shape.serialization.get("resultWrapper", f"{name}Result")
            result = f"<{wrapper}>{_members_xml(answer, model.output_shape)}</{wrapper}>"
        body = (
            f'<{name}Response xmlns="{self._namespace}">{result}'
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            f"</{name}Response>"
        )
        return Response(body, media_type="text/xml")

    def _error(self, status: int, code: str, message: str) -> Response:
        return query_error(status, code, message, self._namespace)


def query_error(status: int, code: str, message: str, namespace: str = "") -> Response:
    """A query-protocol error document, as botocore's query parser reads it."""
    xmlns = f' xmlns="{namespace}"' if namespace else ""
    body = (
        f"<ErrorResponse{xmlns}><Error><Type>Sender</Type>"
        f"<Code>{_xml_text(code)}</Code><Message>{_xml_text(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    )
    return Response(body, status_code=status, media_type="text/xml")


def _read_members(form: Mapping[str, str], shape: Shape, prefix: str) -> dict[str, Any]:
    """The input structure's members from flattened form keys (``Names.member.1``)."""
    assert isinstance(shape, StructureShape)
    params: dict[str, Any] = {}
    for name, member in shape.members.items():
        key = f"{prefix}{name}"
        value = _read_value(form, member, key)
        if value is not None:
            params[name] = value
    return params


def _read_value(form: Mapping[str, str], shape: Shape, key: str) -> Any:
    if isinstance(shape, StructureShape):
        nested = _read_members(form, shape, key + ".")
        return nested or None
    if isinstance(shape, ListShape):
        items: list[Any] = []
        while (
            item := _read_value(form, shape.member, f"{key}.member.{len(items) + 1}")
        ) is not None:
            items.append(item)
        return items if items or key in form else None
    if isinstance(shape, MapShape):
        return _read_map(form, shape, key)
    raw = form.get(key)
    if raw is None:
        return None
    return _scalar(raw, shape, key)


def _read_map(form: Mapping[str, str], shape: MapShape, key: str) -> dict[str, Any] | None:
    """A map as botocore's query serializer writes it: ``<key>.entry.<n>.key`` / ``.value``."""
    found: dict[str, Any] = {}
    entry = 1
    while (name := form.get(f"{key}.entry.{entry}.key")) is not None:
        found[name] = _read_value(form, shape.value, f"{key}.entry.{entry}.value")
        entry += 1
    return found or None


def _scalar(raw: str, shape: Shape, key: str) -> Any:
    try:
        if shape.type_name in ("integer", "long"):
            return int(raw)
        if shape.type_name in ("float", "double"):
            return float(raw)
    except ValueError:
        raise KilnError(f"{key}: {raw!r} is not a {shape.type_name}") from None
    if shape.type_name == "boolean":
        return raw.lower() == "true"
    if shape.type_name == "timestamp":
        return _timestamp(raw, key)
    return raw


def _timestamp(raw: str, key: str) -> float:
    """A query timestamp (ISO 8601, as botocore sends it; or epoch seconds) as epoch seconds."""
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise KilnError(f"{key}: {raw!r} is not an ISO 8601 timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def _members_xml(value: Mapping[str, Any], shape: StructureShape) -> str:
    parts = []
    for name, item in value.items():
        member = shape.members[name]
        tag = member.serialization.get("name", name)
        parts.append(f"<{tag}>{_value_xml(item, member)}</{tag}>")
    return "".join(parts)


def _value_xml(value: Any, shape: Shape) -> str:
    if isinstance(shape, StructureShape):
        return _members_xml(value, shape)
    if isinstance(shape, ListShape):
        tag = shape.member.serialization.get("name", "member")
        return "".join(f"<{tag}>{_value_xml(v, shape.member)}</{tag}>" for v in value)
    if isinstance(shape, MapShape):
        return "".join(
            f"<entry><key>{_xml_text(str(k))}</key><value>{_value_xml(v, shape.value)}</value>"
            "</entry>"
            for k, v in value.items()
        )
    if shape.type_name == "timestamp":
        moment = datetime.datetime.fromtimestamp(float(value), tz=datetime.UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if shape.type_name == "boolean":
        return "true" if value else "false"
    return _xml_text(str(value))


# Characters XML 1.0 cannot carry at all, not even as &#…; references: no client would parse an
# answer that echoes one (a control character in an IAM action name), so each becomes U+FFFD.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: str) -> str:
    """``value`` as XML character data: escaped, and what XML cannot hold replaced."""
    return escape(_NOT_XML.sub("\ufffd", value))
