"""The store front's listener: uvicorn on ``127.0.0.1:KILN_S3_PORT``, on a thread of its own.

Its own event loop keeps bulk transfers off the control plane's loop. The socket is bound before
the thread starts, so a port another process holds is an error at once, naming KILN_S3_PORT.
"""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from kiln.ports import bind_loopback
from kiln.storefront.proxy import StoreFront


class FrontListener:
    """Serves a ``StoreFront`` on a loopback port until stopped."""

    def __init__(self, front: StoreFront, port: int) -> None:
        self._port = port
        self._server = uvicorn.Server(
            uvicorn.Config(
                front,
                host="127.0.0.1",
                port=port,
                loop="uvloop",
                http="httptools",
                lifespan="on",
                log_level="warning",
                access_log=False,
                server_header=False,  # rclone's own Server and Date headers pass through
                date_header=False,
                timeout_keep_alive=30,
                # At stop, a transfer still running gets this long before its socket is closed.
                timeout_graceful_shutdown=5,
            )
        )
        self._thread: threading.Thread | None = None

    def start(self, timeout: float = 15.0) -> None:
        """Bind the port and serve; RuntimeError if the port is taken or the server fails."""
        listening = _bind(self._port)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [listening]}, name="kiln-s3-front",
            daemon=True,
        )  # fmt: skip
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the S3 front failed to start; see the log above")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the S3 front did not start within {timeout:.0f} s")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=30)


def _bind(port: int) -> socket.socket:
    listening = bind_loopback(port, "KILN_S3_PORT")
    listening.listen(2048)
    listening.setblocking(False)
    return listening
