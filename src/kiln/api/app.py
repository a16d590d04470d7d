"""The ASGI app of ``kiln server``: control plane, invocation router, native endpoints, health."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from kiln.api.errors import error_body
from kiln.api.logs import TrainingLogs
from kiln.api.runtime import InvocationRouter
from kiln.api.sagemaker import Operation, SageMakerApi
from kiln.runtime.asgi import Receive, Scope, Send


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


async def _ping(_request: Request) -> Response:
    return PlainTextResponse("ok")


def build_app(
    operations: Mapping[str, Operation],
    router: InvocationRouter,
    *,
    logs_dir: Path,
    job_status: Callable[[str], str | None],
    endpoint_replicas: Callable[[str], list[dict[str, Any]] | None],
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
) -> KilnApp:
    """The server's routes over the given service operations."""

    async def replicas(request: Request) -> Response:
        found = endpoint_replicas(request.path_params["name"])
        if found is None:
            return JSONResponse(error_body("ValidationException", "Could not find endpoint."), 400)
        return JSONResponse({"Replicas": found})

    routes = [
        Route("/", SageMakerApi(operations).handle, methods=["POST"]),
        Route("/ping", _ping, methods=["GET"]),
        Route(
            "/kiln/v1/training-jobs/{name}/logs",
            TrainingLogs(logs_dir, job_status).handle,
            methods=["GET"],
        ),
        Route("/kiln/v1/endpoints/{name}/replicas", replicas, methods=["GET"]),
    ]
    return KilnApp(router, Starlette(routes=routes, lifespan=lifespan or _no_lifespan))


@asynccontextmanager
async def _no_lifespan(_app: Starlette) -> AsyncIterator[None]:
    yield
