"""Webhook delivery: POST a JSON body, retried with exponential backoff, every try recorded.

A try succeeds on any 2xx answer; a connection error, a timeout or any other status is a failed
try. After ``attempts`` tries (``KILN_WEBHOOK_ATTEMPTS``, 4: the first and three retries, waiting
``backoff``, 2×, 4× ``KILN_WEBHOOK_BACKOFF_SECONDS`` between them) the delivery is failed.
Redirects are not followed: the answer to the POST itself decides.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from kiln.services.monitoring.actions.decisions import retry_delay

_ERROR_CHARS = 300


@dataclass(frozen=True)
class Attempt:
    """One try: when, and the HTTP status or the error."""

    time: float
    status_code: int | None
    error: str | None

    @property
    def is_delivered(self) -> bool:
        """Whether the receiver answered 2xx."""
        return self.status_code is not None and 200 <= self.status_code < 300

    def to_document(self) -> dict[str, Any]:
        """The try as a firing shows it."""
        found: dict[str, Any] = {"Time": self.time}
        if self.status_code is not None:
            found["StatusCode"] = self.status_code
        if self.error is not None:
            found["Error"] = self.error
        return found


class WebhookSender:
    """Delivers webhook bodies; ``stopping`` cuts a backoff wait short (the server stops)."""

    def __init__(
        self, attempts: int, backoff: float, timeout: float, stopping: threading.Event
    ) -> None:
        self._attempts = attempts
        self._backoff = backoff
        self._timeout = timeout
        self._stopping = stopping

    def deliver(
        self, url: str, body: bytes, tried: int, on_attempt: Callable[[Attempt], None]
    ) -> bool | None:
        """Try until delivered (True) or out of tries (False); None if stopped before either.

        ``tried`` counts earlier tries (a delivery a restart resumes); each new one goes to
        ``on_attempt`` as it ends.
        """
        attempt = tried
        with httpx.Client(timeout=self._timeout, follow_redirects=False) as client:
            while True:
                if attempt >= self._attempts:
                    return False
                attempt += 1
                result = _post(client, url, body)
                on_attempt(result)
                if result.is_delivered:
                    return True
                delay = retry_delay(attempt, self._attempts, self._backoff)
                if delay is None:
                    return False
                if self._stopping.wait(delay):
                    return None


def _post(client: httpx.Client, url: str, body: bytes) -> Attempt:
    now = time.time()
    headers = {"Content-Type": "application/json", "User-Agent": "kiln-retraining"}
    try:
        answer = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as e:
        return Attempt(now, None, f"{type(e).__name__}: {e}"[:_ERROR_CHARS])
    if 200 <= answer.status_code < 300:
        return Attempt(now, answer.status_code, None)
    error = f"HTTP {answer.status_code}: {answer.text}"
    return Attempt(now, answer.status_code, error[:_ERROR_CHARS])
