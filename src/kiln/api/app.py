"""The ASGI app of ``kiln server``: control plane, native endpoints, health."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from kiln.api.logs import TrainingLogs
from kiln.api.sagemaker import Operation, SageMakerApi


async def _ping(_request: Request) -> Response:
    return PlainTextResponse("ok")


def build_app(
    operations: Mapping[str, Operation],
    *,
    logs_dir: Path,
    job_status: Callable[[str], str | None],
    lifespan: Callable[[Starlette], AbstractAsyncContextManager[None]] | None = None,
) -> Starlette:
    """The server's routes over the given service operations."""
    routes = [
        Route("/", SageMakerApi(operations).handle, methods=["POST"]),
        Route("/ping", _ping, methods=["GET"]),
        Route(
            "/kiln/v1/training-jobs/{name}/logs",
            TrainingLogs(logs_dir, job_status).handle,
            methods=["GET"],
        ),
    ]
    return Starlette(routes=routes, lifespan=lifespan or _no_lifespan)


@asynccontextmanager
async def _no_lifespan(_app: Starlette) -> AsyncIterator[None]:
    yield
