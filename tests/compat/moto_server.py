"""One address for moto's server mode: a fresh Kiln per test behind a small forwarding proxy.

moto's tests, with ``TEST_SERVER_MODE=true``, send every client to one endpoint and call
``POST /moto-api/reset`` when each test's mock starts and ends. This proxy is that endpoint:

- ``POST /moto-api/reset`` marks the current Kiln as used up; the next request gets a fresh one
  (its own ``KILN_HOME`` and database), so each test starts from an empty account as on moto;
- a request signed for ``s3`` (the service in its SigV4 credential scope) goes to Kiln's S3 store;
- anything else goes to Kiln's API (SageMaker, sagemaker-runtime, and whatever else Kiln serves).

Headers, ``Host`` included, travel unchanged, so the SigV4 signature still matches. Kiln itself
knows nothing of moto.
"""

from __future__ import annotations

import http.client
import re
import shutil
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from conftest import Kiln, make_settings, start_kiln

# moto's mock signs every request with these fixed fake keys (moto.core.models): each fresh Kiln
# takes them as its owner's key, so the auth gate and the store's front let moto's tests in as
# they would a real user.
MOTO_KEYS = {"KILN_ACCESS_KEY_ID": "FOOBARKEY", "KILN_SECRET_ACCESS_KEY": "FOOBARSECRET"}
_SERVICE = re.compile(r"Credential=[^/]+/[^/]+/[^/]+/([^/]+)/aws4_request")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "proxy-connection", "upgrade"}


class FreshKilns:
    """The current Kiln; a new one after each reset, started only when a request needs it."""

    def __init__(self, root: Path) -> None:
        self._root = root
        self._lock = threading.Lock()
        self._current: Kiln | None = None
        self._is_used = False
        self.started = 0

    def reset(self) -> None:
        """Forget the current Kiln's state: the next request starts a fresh one."""
        with self._lock:
            if self._current is not None and self._is_used:
                self._stop()

    def current(self) -> Kiln:
        """The Kiln that answers now, started if there is none."""
        with self._lock:
            if self._current is None:
                self.started += 1
                home = Path(tempfile.mkdtemp(prefix=f"kiln-{self.started}-", dir=self._root))
                settings = make_settings(
                    home / "home", f"sqlite:///{home / 'kiln.db'}", **MOTO_KEYS
                )
                self._current = start_kiln(settings)
            self._is_used = True
            return self._current

    def close(self) -> None:
        with self._lock:
            if self._current is not None:
                self._stop()

    def _stop(self) -> None:
        assert self._current is not None
        self._current.thread.stop()
        shutil.rmtree(self._current.settings.home.parent, ignore_errors=True)
        self._current = None
        self._is_used = False


class MotoEndpoint:
    """The proxy on a free 127.0.0.1 port, in a thread; ``url`` is TEST_SERVER_MODE_ENDPOINT."""

    def __init__(self, root: Path) -> None:
        self.kilns = FreshKilns(root)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.kilns))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> MotoEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
        self.kilns.close()


def _handler(kilns: FreshKilns) -> type[BaseHTTPRequestHandler]:
    class Forward(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _any(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.startswith("/moto-api/reset"):
                kilns.reset()
                self._answer(200, [("Content-Type", "application/json")], b"{}")
                return
            kiln = kilns.current()
            match = _SERVICE.search(self.headers.get("Authorization", ""))
            is_s3 = match is not None and match.group(1) == "s3"
            target = urlsplit(kiln.settings.s3_endpoint_url if is_s3 else kiln.endpoint)
            connection = http.client.HTTPConnection(target.netloc, timeout=300)
            try:
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
                connection.request(self.command, self.path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                kept = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
                self._answer(response.status, kept, data)
            finally:
                connection.close()

        def _answer(self, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
            self.send_response_only(status)
            for key, value in headers:
                # A HEAD answer keeps the length the object would have; others get their own.
                if self.command == "HEAD" or key.lower() != "content-length":
                    self.send_header(key, value)
            if self.command != "HEAD":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = _any

    return Forward
