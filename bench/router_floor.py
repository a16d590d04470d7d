"""The least CPU a Python router can spend per request: the floor under issue 9's ≤ 100 µs.

    python bench/router_floor.py [--duration S] [--repeat N]

Three fronts, each forwarding ``POST /invocations`` to one upstream over a pooled Unix-socket
connection (the upstream answers ``{}`` at once: uvicorn on a Unix socket, as a Kiln replica
listens), measured the way ``serving.py --lean`` measures Kiln's router: h2load at c=1 over
keep-alive, the front pinned to the server CPU, its process's utime + stime ÷ requests (the
upstream's CPU is not in it):

- ``uvicorn-hello``: uvicorn answering by itself, no forwarding (the HTTP stack's own cost);
- ``uvicorn-proxy``: an ASGI app on uvicorn (uvloop, httptools) forwarding over asyncio streams,
  with no auth, routing, metrics or records (the least a router on Kiln's stack can do);
- ``protocol-proxy``: a hand-written ``asyncio.Protocol`` with httptools on uvloop, no ASGI.

Kiln's own router figure comes from ``serving.py --lean`` and the SigV4 check's from
``auth_cost.py``: this benchmark says how much of the 100 µs the stack leaves for them.
Results go to ``bench/results/router_floor.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, cast

import httptools
import uvicorn
import uvloop
from common import run_header, sigterm_as_exit
from loadgen import Launched, Timing, free_port, launch, run_h2load, stop

from kiln.storage import wait_for_port

RESULTS = Path(__file__).parent / "results" / "router_floor.json"
TARGET_US = 100.0
FRONTS = ("uvicorn-hello", "uvicorn-proxy", "protocol-proxy")
BODY = b'{"inputs": [[17.99, 10.38, 122.8, 1001.0, 0.1184, 0.2776, 0.3001, 0.1471, 0.2419]]}'
ANSWER = b"{}"

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


# -- the processes measured ------------------------------------------------------------------------


async def _hello(scope: Message, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"2")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


def _asgi_proxy(upstream: str) -> Callable[[Message, Receive, Send], Awaitable[None]]:
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []

    async def app(scope: Message, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        reader, writer = idle.pop() if idle else await asyncio.open_unix_connection(upstream)
        writer.write(_request(body))
        head = await reader.readuntil(b"\r\n\r\n")
        payload = await reader.readexactly(_content_length(head))
        idle.append((reader, writer))
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", b"%d" % len(payload)),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    return app


def _request(body: bytes) -> bytes:
    head = b"POST /invocations HTTP/1.1\r\nhost: replica\r\ncontent-type: application/json\r\n"
    return head + b"content-length: %d\r\n\r\n%s" % (len(body), body)


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection parsed by httptools; ``whole`` gets each message's body."""

    def __init__(self, parser: Callable[[Any], Any]) -> None:
        self.parser = parser(self)
        self.transport: asyncio.Transport | None = None
        self._body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def data_received(self, data: bytes) -> None:
        self.parser.feed_data(data)

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        body, self._body = b"".join(self._body), []
        self.whole(body)

    def whole(self, body: bytes) -> None:
        """A whole message arrived with ``body``."""
        raise NotImplementedError


class _Upstream(_Connection):
    """One pooled connection to the upstream; hands each whole answer to the waiting front."""

    def __init__(self) -> None:
        super().__init__(httptools.HttpResponseParser)
        self.waiting: Callable[[bytes], None] | None = None

    def whole(self, body: bytes) -> None:
        waiting, self.waiting = self.waiting, None
        assert waiting is not None
        waiting(body)


class _Front(_Connection):
    """One client connection: forward each request, write the answer back."""

    def __init__(self, upstream: _Upstream) -> None:
        super().__init__(httptools.HttpRequestParser)
        self.upstream = upstream

    def whole(self, body: bytes) -> None:
        assert self.upstream.transport is not None
        self.upstream.waiting = self._answer  # c=1: one request in flight per connection
        self.upstream.transport.write(_request(body))

    def _answer(self, payload: bytes) -> None:
        assert self.transport is not None
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n"
        self.transport.write(head % len(payload) + payload)


async def _protocol_proxy(port: int, upstream: str) -> None:
    loop = asyncio.get_running_loop()
    _, connection = await loop.create_unix_connection(_Upstream, upstream)
    server = await loop.create_server(lambda: _Front(connection), "127.0.0.1", port)
    await server.serve_forever()


def serve(front: str, port: int, upstream: str) -> None:
    """Run one front (or the upstream, ``front == "upstream"``) in the foreground."""
    if front == "protocol-proxy":
        uvloop.run(_protocol_proxy(port, upstream))
        return
    app = _asgi_proxy(upstream) if front == "uvicorn-proxy" else _hello
    where: dict[str, Any] = {"uds": upstream} if front == "upstream" else {"port": port}
    uvicorn.run(app, host="127.0.0.1", loop="uvloop", http="httptools", lifespan="off",
                access_log=False, log_level="warning", **where)  # fmt: skip


# -- the measurement -------------------------------------------------------------------------------


def _start(front: str, port: int, upstream: str, workdir: Path) -> Launched:
    argv = [sys.executable, __file__, "--serve", front, "--port", str(port), "--upstream", upstream]
    return launch(front, argv, workdir / f"{front}.log")


def _wait_for_socket(launched: Launched, path: str) -> None:
    """Until the upstream accepts connections on its Unix socket."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        launched.check_alive()
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(path)
                return
            except OSError:
                time.sleep(0.05)
    raise RuntimeError(f"{launched.name} did not listen within 30 s:\n{launched.tail()}")


def measure(workdir: Path, timing: Timing, repeat: int) -> dict[str, list[float]]:
    """Server CPU µs per request of each front, ``repeat`` times, fronts interleaved."""
    upstream = str(workdir / "upstream.sock")
    body = workdir / "body.json"
    body.write_bytes(BODY)
    replica = _start("upstream", 0, upstream, workdir)
    found: dict[str, list[float]] = {front: [] for front in FRONTS}
    try:
        _wait_for_socket(replica, upstream)
        for round_ in range(repeat):
            for front in FRONTS:
                port = free_port()
                launched = _start(front, port, upstream, workdir)
                try:
                    wait_for_port("127.0.0.1", port, 30, launched.process)
                    url = f"http://127.0.0.1:{port}/invocations"
                    cell = run_h2load(url, body, 1, timing, launched.process.pid, workdir)
                finally:
                    stop(launched)
                if cell["errors"]:
                    raise RuntimeError(f"{front}: {cell['errors']} failed requests")
                micros = cell["cpu_ms_per_request"] * 1e3
                found[front].append(micros)
                print(f"  round {round_ + 1} {front:>15}: {micros:6.1f} µs CPU per request, "
                      f"{cell['req_s']:,.0f} req/s")  # fmt: skip
    finally:
        stop(replica)
    return found


def report(found: dict[str, list[float]]) -> None:
    """The medians, their ratio to the uvicorn proxy, and the room each leaves under 100 µs."""
    reference = statistics.median(found["uvicorn-proxy"])
    print(f"router CPU per request at c=1 (median of {len(found['uvicorn-proxy'])}):")
    for front, values in found.items():
        median = statistics.median(values)
        room = TARGET_US - median
        print(f"  {front:>15}: {median:6.1f} µs  ({median / reference:4.2f}× the uvicorn proxy; "
              f"{room:+6.1f} µs left under {TARGET_US:g} µs for the rest)")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per h2load run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--serve", choices=[*FRONTS, "upstream"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.upstream)
        return 0
    with sigterm_as_exit(), tempfile.TemporaryDirectory(prefix="kiln-floor-") as tmp:
        found = measure(Path(tmp), Timing(args.duration, 1.0), args.repeat)
    report(found)
    summary = {front: statistics.median(values) for front, values in found.items()}
    RESULTS.write_text(
        json.dumps({**run_header("router_floor"), "cpu_us_per_request": summary, "runs": found},
                   indent=2) + "\n"
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
