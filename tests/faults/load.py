"""Invocation load: closed-loop threads on keep-alive connections, every request recorded.

h2load (what bench/ uses) gives up on a connection that fails, and a server killed with -9
fails every connection, so faults drive load from threads of their own: each thread holds one
keep-alive connection, reconnects after an error, and records each request's start, end and
outcome. ``tally`` then splits the failures: those that overlap a window in which the server
itself was down are expected of kill -9 and counted apart.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .results import Requests

REQUEST_TIMEOUT_S = 90.0  # above the router's 60 s replica timeout: its answer, not ours
_AFTER_ERROR_S = 0.05  # a refused connection fails at once: do not spin


@dataclass(frozen=True)
class Sent:
    """One request: when it started and ended (``time.monotonic``) and what came back."""

    started: float
    ended: float
    outcome: str  # "200" when correct; else a status, "wrong answer" or "connection error: …"

    @property
    def is_ok(self) -> bool:
        """Whether it got the right answer."""
        return self.outcome == "200"


class Load:
    """``concurrency`` threads POSTing ``body`` to ``path`` (``pause`` s apart) until ``stop``."""

    def __init__(
        self,
        port: int,
        path: str,
        body: bytes,
        headers: dict[str, str],
        is_right: Callable[[bytes], bool],
        concurrency: int,
        pause: float = 0.0,
    ) -> None:
        self._port = port
        self._pause = pause
        self._path = path
        self._body = body
        self._headers = {"Content-Type": "application/json", **headers}
        self._is_right = is_right
        self._should_stop = threading.Event()
        self._lock = threading.Lock()
        self.sent: list[Sent] = []
        self._threads = [
            threading.Thread(target=self._loop, name=f"faults-load-{i}", daemon=True)
            for i in range(concurrency)
        ]

    def start(self) -> Load:
        """Start sending."""
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Sent]:
        """Stop sending, wait for requests in flight; every request sent."""
        self._should_stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT_S + 5)
        with self._lock:
            return list(self.sent)

    def ok_count(self, since: float = 0.0) -> int:
        """Correct answers to requests that started at or after ``since``."""
        with self._lock:
            return sum(1 for s in self.sent if s.is_ok and s.started >= since)

    def wait_ok(self, since: float, count: int, timeout: float) -> bool:
        """Wait until ``count`` requests started after ``since`` were answered correctly."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.ok_count(since) >= count:
                return True
            time.sleep(0.05)
        return False

    def _loop(self) -> None:
        connection: http.client.HTTPConnection | None = None
        while not self._should_stop.is_set():
            if connection is None:
                connection = http.client.HTTPConnection(
                    "127.0.0.1", self._port, timeout=REQUEST_TIMEOUT_S
                )
            started = time.monotonic()
            try:
                connection.request("POST", self._path, self._body, self._headers)
                response = connection.getresponse()
                answer = response.read()
                outcome = _outcome(response, answer, self._is_right)
                if response.will_close:
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as e:
                outcome = f"connection error: {type(e).__name__}"
                if connection is not None:
                    connection.close()
                connection = None
            with self._lock:
                self.sent.append(Sent(started, time.monotonic(), outcome))
            if outcome != "200":
                time.sleep(_AFTER_ERROR_S)
            elif self._pause:
                time.sleep(self._pause)
        if connection is not None:
            connection.close()


def _outcome(
    response: http.client.HTTPResponse, answer: bytes, is_right: Callable[[bytes], bool]
) -> str:
    """``200`` for a right answer; else the status, error type and the message's start."""
    if response.status == 200:
        return "200" if is_right(answer) else "wrong answer"
    kind = (response.getheader("x-amzn-ErrorType") or "").split(":")[0]
    try:
        document = json.loads(answer)
        message = str(document.get("OriginalMessage") or document.get("message") or "")
    except (ValueError, AttributeError):
        message = answer[:80].decode(errors="replace")
    return f"{response.status} {kind}: {message[:80]}".rstrip(": ")


Window = tuple[float, float]


def tally(sent: Sequence[Sent], down: Sequence[Window] = ()) -> Requests:
    """Outcomes of ``sent``; failures overlapping a ``down`` window counted apart."""
    failed = while_down = 0
    for s in sent:
        if s.is_ok:
            continue
        if any(s.started <= end and s.ended >= begin for begin, end in down):
            while_down += 1
        else:
            failed += 1
    return Requests(
        sent=len(sent),
        ok=sum(1 for s in sent if s.is_ok),
        failed=failed,
        while_down=while_down,
        outcomes=Counter(s.outcome for s in sent),
        slowest_s=max((s.ended - s.started for s in sent), default=0.0),
    )
