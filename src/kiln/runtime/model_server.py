"""The model replica (``kiln serve``): SageMaker's inference container contract on bare ASGI.

Wire contract (CONTRACTS.md §2.1):

- ``GET /ping`` → 200, empty body. The model is loaded before the socket listens, so a replica
  that answers at all is ready.
- ``POST /invocations`` → the handler chain of :mod:`kiln.runtime.handlers` → 200 with the
  chain's Content-Type. Request headers: ``Content-Type`` (default ``application/json``),
  ``Accept`` (missing or ``*/*``: ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT``, else
  ``application/json``), ``X-Amzn-SageMaker-Custom-Attributes`` (to the handlers' context; the
  context's ``response_custom_attributes`` comes back in the same header),
  ``X-Amzn-SageMaker-Inference-Id`` (to the handlers' context as ``inference_id``, and back on
  the response, as SageMaker's containers keep the id they are given).
- Errors, as ``text/plain``: 400 body does not parse; 406 no encoder for Accept; 413 body over
  6 MiB (or ``SAGEMAKER_MAX_PAYLOAD_IN_MB``); 415 no decoder for Content-Type; an
  :class:`~kiln.runtime.handlers.InferenceError`'s own status and message; any other exception
  from handler code 500 ``"<ExceptionType>: <message>"`` (the traceback goes to stderr, never to
  the client). 404 and 405 for other paths and methods.

Process contract::

    python -m kiln.runtime.model_server --model-dir DIR [--code-dir DIR]
        [--entry-point inference.py] (--port P [--host H] | --uds PATH | --fd N)
    python -m kiln.runtime.model_server --spare --control-fd N   (a warm spare: runtime/warm.py)

The entry point (default ``SAGEMAKER_PROGRAM``, else ``inference.py``) is looked up in
``--code-dir``, else ``<model-dir>/code/``; without it, framework defaults serve the model. The
socket is bound first, the module imported and the model loaded next, and only then does the
socket listen. Each start phase prints one JSON line on stdout: ``{"kiln_phase": "import",
"seconds": …}``, then ``"load"``, then ``"listening"`` (with ``"port"`` or ``"uds"``). On
SIGTERM or SIGINT uvicorn stops accepting, finishes in-flight requests, then re-raises the signal,
so the process ends *by* that signal (returncode -15 for SIGTERM), its unix socket removed. Exit
code 2 when the import or model loading fails, 3 when the address cannot be bound; both end with
``kiln-replica: failed: <Type>: <message>`` on stderr.

Requests run in the event loop itself (no thread hop), with no per-request logging. The HTTP
side (:class:`ReplicaApp`) only calls a :data:`Dispatch`: the micro-batching one
(:class:`~kiln.runtime.batching.BatchingDispatcher`, concurrent requests share one ``predict``)
where the handlers and the ``KILN_BATCHING``/``KILN_MAX_BATCH_*`` variables allow it (the
``listening`` line says ``"batching": true``), else the inline one (:class:`InlineDispatcher`,
one request at a time, FIFO). Bad batching variables exit 2 before anything loads.
"""

from __future__ import annotations

import argparse
import os
import socket
import stat
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from kiln.runtime import codecs
from kiln.runtime.archives import safe_extract
from kiln.runtime.asgi import ClientDisconnected, Receive, Scope, Send, read_body
from kiln.runtime.batch_settings import BatchSettings, BatchSettingsError, batch_settings
from kiln.runtime.batching import BatchingDispatcher, batching_allowed
from kiln.runtime.exit_codes import EXIT_BIND_FAILED, EXIT_LOAD_FAILED
from kiln.runtime.handlers import (
    InferenceError,
    Predictor,
    Reply,
    find_entry_point,
    import_user_module,
    load_predictor,
    resolve_handlers,
)
from kiln.runtime.phases import print_phase
from kiln.runtime.warm import run_spare

# InvokeEndpoint's Body is at most 6291456 bytes (6 MiB), plus slack so that the replica never
# refuses a body the router in front of it accepted.
_MIB = 1024 * 1024
_SLACK = 64 * 1024
MAX_BODY_BYTES = 6 * _MIB + _SLACK

Dispatch = Callable[[bytes, str | None, str | None, str | None, str | None], Awaitable[Reply]]
"""(body, content type, accept, custom attributes, inference id) → the reply; errors propagate."""

_TEXT = b"text/plain; charset=utf-8"
_ATTRIBUTES = b"x-amzn-sagemaker-custom-attributes"
_INFERENCE_ID = b"x-amzn-sagemaker-inference-id"


class InlineDispatcher:
    """Runs each request's handler chain in the event loop itself: one at a time, FIFO."""

    def __init__(self, predictor: Predictor) -> None:
        self._invoke = predictor.invoke

    async def __call__(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        attributes: str | None,
        inference_id: str | None,
    ) -> Reply:
        return self._invoke(body, content_type, accept, attributes, inference_id)


class ReplicaApp:
    """The ASGI app: ``GET /ping`` and ``POST /invocations`` in front of a :data:`Dispatch`."""

    def __init__(self, dispatch: Dispatch, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.dispatch = dispatch
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/invocations":
            if method == "POST":
                await self._invocations(scope, receive, send)
            else:
                await _respond(send, 405, b"use POST /invocations\n", [(b"allow", b"POST")])
        elif path == "/ping":
            if method in ("GET", "HEAD"):
                await _respond(send, 200, b"")
            else:
                await _respond(send, 405, b"use GET /ping\n", [(b"allow", b"GET, HEAD")])
        else:
            await _respond(send, 404, b"not found: use GET /ping or POST /invocations\n")

    async def _invocations(self, scope: Scope, receive: Receive, send: Send) -> None:
        content_type = accept = attributes = inference_id = None
        length = 0
        for name, value in scope["headers"]:
            if name == b"content-type":
                content_type = value.decode("latin-1")
            elif name == b"accept":
                accept = value.decode("latin-1")
            elif name == _ATTRIBUTES:
                attributes = value.decode("latin-1")
            elif name == _INFERENCE_ID:
                inference_id = value
            elif name == b"content-length" and value.isdigit():
                length = int(value)
        if length > self.max_body_bytes:
            # Answer now; uvicorn reads and drops the rest of the body, keeping the connection.
            await _respond(send, 413, self._too_large())
            return
        try:
            body = await read_body(receive, self.max_body_bytes)
        except ClientDisconnected:
            return
        if body is None:
            await _respond(send, 413, self._too_large())
            return
        try:
            reply = await self.dispatch(body, content_type, accept, attributes, _text(inference_id))
            headers = _reply_headers(reply)
            if inference_id is not None:
                headers.append((_INFERENCE_ID, inference_id))
        except (InferenceError, codecs.CodecError) as e:
            await _respond(send, e.status_code, str(e).encode())
            return
        except Exception as e:
            traceback.print_exception(e)
            await _respond(send, 500, _describe(e).encode())
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": reply.body})

    def _too_large(self) -> bytes:
        return f"request body is over the {self.max_body_bytes} byte limit\n".encode()


def _text(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _reply_headers(reply: Reply) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", _header_value(reply.content_type)),
        (b"content-length", str(len(reply.body)).encode()),
    ]
    if reply.custom_attributes is not None:
        headers.append((_ATTRIBUTES, _header_value(reply.custom_attributes)))
    return headers


def _header_value(value: str) -> bytes:
    # Handler code chooses these: refuse what would break (or inject into) the response head.
    if not (isinstance(value, str) and value.isascii() and value.isprintable()):
        raise ValueError(f"not a valid HTTP header value: {value!r}")
    return value.encode("ascii")


async def _respond(
    send: Send, status: int, body: bytes, extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    headers = [(b"content-type", _TEXT), (b"content-length", str(len(body)).encode()), *extra]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class ReplicaOptions:
    """How one replica process starts: what it serves and where it listens."""

    model_dir: Path
    code_dir: Path
    entry_point: str
    host: str
    port: int | None
    uds: Path | None
    fd: int | None = None
    default_accept: str = codecs.JSON
    max_body_bytes: int = MAX_BODY_BYTES
    batching: BatchSettings = BatchSettings()


def parse_args(argv: Sequence[str] | None, environ: Mapping[str, str]) -> ReplicaOptions:
    """Options from the command line, with the SageMaker container variables as defaults."""
    parser = argparse.ArgumentParser(
        prog="python -m kiln.runtime.model_server",
        description="Serve a model over SageMaker's inference container contract.",
    )
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--code-dir", type=Path, help="default: <model-dir>/code")
    parser.add_argument("--entry-point", default=environ.get("SAGEMAKER_PROGRAM", "inference.py"))
    parser.add_argument("--host", default="127.0.0.1")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--port", type=int)
    where.add_argument("--uds", type=Path, help="listen on this unix socket instead")
    where.add_argument(
        "--fd", type=int, help="listen on this inherited, bound socket (the server made it)"
    )
    args = parser.parse_args(argv)
    payload_mb = environ.get("SAGEMAKER_MAX_PAYLOAD_IN_MB") or "6"
    if not payload_mb.isdigit():
        parser.error(f"SAGEMAKER_MAX_PAYLOAD_IN_MB must be a whole number, not {payload_mb!r}")
    try:
        batching = batch_settings(environ)
    except BatchSettingsError as e:
        parser.error(str(e))
    return ReplicaOptions(
        model_dir=args.model_dir,
        code_dir=args.code_dir if args.code_dir is not None else args.model_dir / "code",
        entry_point=args.entry_point,
        host=args.host,
        port=args.port,
        uds=args.uds,
        fd=args.fd,
        default_accept=environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or codecs.JSON,
        max_body_bytes=max(int(payload_mb) * _MIB + _SLACK, MAX_BODY_BYTES),
        batching=batching,
    )


def bind(options: ReplicaOptions) -> socket.socket:
    """The bound, not yet listening, socket: connections are refused until the model is loaded."""
    if options.fd is not None:
        return socket.socket(fileno=options.fd)
    if options.uds is not None:
        _remove_stale_socket(options.uds)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.bind(str(options.uds))
        return sock
    family, kind, proto, _, address = socket.getaddrinfo(
        options.host, options.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock


def _remove_stale_socket(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise FileExistsError(f"{path} exists and is not a socket; refusing to replace it")
    path.unlink()


def load(options: ReplicaOptions) -> Predictor:
    """Import the user's module and load the model, printing the two phases' timings."""
    started = time.perf_counter()
    if not options.model_dir.is_dir():
        raise FileNotFoundError(f"model dir {options.model_dir} is not a folder")
    entry = find_entry_point(options.code_dir, options.entry_point)
    if entry is None:
        print(
            f"kiln-replica: no {options.entry_point} in {options.code_dir}; "
            "serving with the framework defaults",
            file=sys.stderr,
        )
    module = import_user_module(entry, options.code_dir) if entry is not None else None
    handlers = resolve_handlers(module)
    print_phase("import", started)
    started = time.perf_counter()
    predictor = load_predictor(handlers, options.model_dir.resolve(), options.default_accept)
    print_phase("load", started)
    return predictor


def dispatcher_for(predictor: Predictor, settings: BatchSettings) -> Dispatch:
    """The batching dispatcher where ``settings`` and the handlers allow it, else the inline one."""
    if batching_allowed(predictor.handlers, settings):
        return BatchingDispatcher(predictor, settings)
    return InlineDispatcher(predictor)


def serve(predictor: Predictor, sock: socket.socket, options: ReplicaOptions) -> None:
    """Serve ``predictor`` on ``sock`` until SIGTERM or SIGINT."""
    dispatch = dispatcher_for(predictor, options.batching)
    app = ReplicaApp(dispatch, options.max_body_bytes)
    config = uvicorn.Config(
        app,
        loop="uvloop",
        http="httptools",
        ws="none",
        lifespan="off",
        access_log=False,
        server_header=False,
        # Longer than a router's pooled connections idle, so the router is the one to close them.
        timeout_keep_alive=75,
        # SageMaker sends SIGKILL 30 s after SIGTERM: finish in-flight requests well before.
        timeout_graceful_shutdown=25,
    )
    where: dict[str, object]
    if options.fd is not None:
        where = {"fd": options.fd}
    elif options.uds is not None:
        where = {"uds": str(options.uds)}
    else:
        where = {"port": sock.getsockname()[1]}
    where["batching"] = isinstance(dispatch, BatchingDispatcher)
    started = time.perf_counter()
    server = _Server(config, lambda: print_phase("listening", started, **where), options.uds)
    server.run(sockets=[sock])


class _Server(uvicorn.Server):
    """uvicorn's server, telling when its sockets listen and removing its unix socket after."""

    def __init__(
        self, config: uvicorn.Config, on_listening: Callable[[], object], uds: Path | None
    ) -> None:
        super().__init__(config)
        self._on_listening = on_listening
        self._uds = uds

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_listening()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets=sockets)
        # Here, not after run(): uvicorn re-raises SIGTERM when run() ends, and nothing follows.
        if self._uds is not None:
            self._uds.unlink(missing_ok=True)


def prepare_model_dir(model_data: str, workdir: Path) -> Path:
    """A model folder for ``model_data``: a folder as is, a tarball extracted under ``workdir``.

    ``s3://`` URIs are the caller's to fetch first: nothing in the runtime talks to S3.
    """
    if model_data.startswith("s3://"):
        raise ValueError(f"fetch {model_data} first: prepare_model_dir takes local paths")
    path = Path(model_data).expanduser()
    if path.is_dir():
        return path.resolve()
    if not path.is_file():
        raise FileNotFoundError(f"model data {model_data!r} is neither a folder nor a file")
    workdir.mkdir(parents=True, exist_ok=True)
    dest = Path(tempfile.mkdtemp(prefix="model-", dir=workdir))
    safe_extract(path, dest)
    return dest


def _describe(error: BaseException) -> str:
    message = str(error)
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _fail(error: BaseException) -> None:
    summary = _describe(error).replace("\n", " ")
    print(f"kiln-replica: failed: {summary}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one replica (or a warm spare that becomes one); the process exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:2] == ["--spare", "--control-fd"] and len(args) == 3:
        go = run_spare(int(args[2]))
        if go is None:
            return 0
        args = list(go.argv)
    options = parse_args(args, os.environ)
    try:
        sock = bind(options)
    except OSError as e:
        _fail(e)
        return EXIT_BIND_FAILED
    try:
        try:
            predictor = load(options)
        # SystemExit too: a user module that calls sys.exit() at import has failed to load.
        except (Exception, SystemExit) as e:
            traceback.print_exception(e)
            _fail(e)
            return EXIT_LOAD_FAILED
        serve(predictor, sock, options)
        return 0
    finally:
        sock.close()
        if options.uds is not None:
            options.uds.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
