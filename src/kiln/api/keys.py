"""Native key management: ``/kiln/v1/keys`` and ``/kiln/v1/roles`` (``kiln keys``, ``kiln roles``).

    POST   /kiln/v1/keys        {"User", "Policy"?, "Kind": "access"|"bearer", "Description"?}
           → {"AccessKeyId", "SecretAccessKey"} or {"ApiKey"}; "Policy" creates or replaces the
             user's policy (a built-in name, "invoker:<endpoint>,…", or a JSON document)
    GET    /kiln/v1/keys        → {"Keys": [{"KeyId", "Kind", "User", "Description", …}]}
    DELETE /kiln/v1/keys/{id}   → {} (revoked at once), 400 if no live key has that id
    PUT    /kiln/v1/roles/{name} {"Policy"} → {"Arn"}: the policy jobs with that RoleArn get

Secrets are shown once, in the answer that creates them. The gate authorises these paths as
IAM's ``CreateAccessKey``, ``ListAccessKeys``, ``DeleteAccessKey`` and ``PutRolePolicy``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from kiln.api.json_protocol import BadRequest, native_answers, read_limited
from kiln.auth.keystore import KeyStore
from kiln.auth.policies import named_policy
from kiln.config import ACCOUNT_ID
from kiln.errors import KilnError


def key_routes(keys: KeyStore, endpoint_arn: Callable[[str], str]) -> list[Route]:
    """The routes of the key management API over ``keys``."""

    async def create(request: Request) -> Response:
        body = await _body(request)
        user = body.get("User")
        kind = body.get("Kind", "access")
        if not isinstance(user, str) or not user or kind not in ("access", "bearer"):
            raise KilnError('Give "User" (a name) and "Kind" ("access" or "bearer")')
        policy = body.get("Policy")
        if policy is not None:
            keys.put_principal(user, "user", [named_policy(str(policy), endpoint_arn)])
        description = str(body.get("Description", ""))
        if kind == "bearer":
            return JSONResponse({"ApiKey": keys.create_api_key(user, description)})
        pair = keys.create_access_key(user, description)
        return JSONResponse(
            {"AccessKeyId": pair.access_key_id, "SecretAccessKey": pair.secret_access_key}
        )

    async def listing(_request: Request) -> Response:
        return JSONResponse(
            {
                "Keys": [
                    {"KeyId": k.key_id, "Kind": k.kind, "User": k.principal,
                     "Description": k.description, "CreationTime": k.creation_time}
                    for k in keys.keys()
                ]
            }
        )  # fmt: skip

    async def revoke(request: Request) -> Response:
        key_id = request.path_params["key_id"]
        if not keys.revoke(key_id):
            raise KilnError(f"No live key has the id {key_id}")
        return JSONResponse({})

    async def put_role(request: Request) -> Response:
        name = request.path_params["name"]
        policy = (await _body(request)).get("Policy")
        if policy is None:
            raise KilnError('Give "Policy": a built-in name or a JSON policy document')
        keys.put_principal(name, "role", [named_policy(str(policy), endpoint_arn)])
        return JSONResponse({"Arn": f"arn:aws:iam::{ACCOUNT_ID}:role/{name}"})

    return [
        Route("/kiln/v1/keys", native_answers(create), methods=["POST"]),
        Route("/kiln/v1/keys", native_answers(listing), methods=["GET"]),
        Route("/kiln/v1/keys/{key_id}", native_answers(revoke), methods=["DELETE"]),
        Route("/kiln/v1/roles/{name}", native_answers(put_role), methods=["PUT"]),
    ]


async def _body(request: Request) -> dict[str, Any]:
    raw = await read_limited(request)
    try:
        body = orjson.loads(raw or b"{}")
    except orjson.JSONDecodeError as e:
        raise BadRequest(400, "SerializationException", f"Body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "SerializationException", "Body must be a JSON object")
    return body
