"""The raw reference for ``serving.py``: a bare ASGI callable, the floor Python allows.

uvicorn with uvloop and httptools, orjson, the prediction inline in the event loop, no access
log. ``POST /invocations`` with ``{"inputs": [[…], …]}`` → ``{"predictions": […]}``; any other
request gets 404. Run: ``python bench/raw_asgi.py --model model.joblib --port P``. Prints one
JSON line, ``{"kiln_phase": "listening", "port": P}``, once it accepts connections.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import joblib
import numpy as np
import orjson
import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_JSON = [(b"content-type", b"application/json")]


def make_app(model: Any) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The ASGI callable serving ``model``."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != "/invocations" or scope["method"] != "POST":
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        rows = np.array(orjson.loads(body)["inputs"])
        answer = orjson.dumps(
            {"predictions": model.predict(rows)}, option=orjson.OPT_SERIALIZE_NUMPY
        )
        headers = [*_JSON, (b"content-length", str(len(answer)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": answer})

    return app


class _Server(uvicorn.Server):
    """uvicorn's server, saying on stdout when it listens."""

    async def startup(self, sockets: list[Any] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            port = self.servers[0].sockets[0].getsockname()[1]
            print(orjson.dumps({"kiln_phase": "listening", "port": port}).decode(), flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="a joblib file")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    app = make_app(joblib.load(args.model))
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="off",
        access_log=False,
        log_level="warning",
    )
    _Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
