"""Stopping what dead servers left runs off the lease thread, one round at a time.

The backend's ``stop_left_by`` is a plain function here: the Ray backend's own is driven on a
real cluster by ``tests/ray_backend``; this file is about the thread that calls it.
"""

from __future__ import annotations

import threading
import time

import pytest

from kiln.services.cluster.left_behind import LeftBehind

GONE = frozenset({"server-a"})


def test_a_round_that_waits_on_its_nodes_does_not_hold_the_renewal_up() -> None:
    release, rounds = threading.Event(), []

    def stop_left_by(servers: frozenset[str]) -> int:
        rounds.append(servers)
        release.wait(10)
        return 1

    left = LeftBehind(lambda: GONE, stop_left_by)
    try:
        left.check()  # returns at once although the round waits
        left.check()  # the round still runs: no second one
        release.set()
    finally:
        left.stop()
    assert rounds == [GONE]


def test_nothing_runs_while_no_server_is_gone() -> None:
    rounds: list[frozenset[str]] = []
    left = LeftBehind(frozenset, lambda servers: rounds.append(servers) or 0)
    left.check()
    left.stop()
    assert rounds == []


def test_a_failed_round_is_logged_and_the_next_renewal_tries_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rounds: list[frozenset[str]] = []

    def stop_left_by(servers: frozenset[str]) -> int:
        rounds.append(servers)
        if len(rounds) == 1:
            raise ConnectionError("GCS away")
        return 2

    left = LeftBehind(lambda: GONE, stop_left_by)
    try:
        deadline = time.monotonic() + 10
        while len(rounds) < 2:  # renewals come until one starts a round after the failed one
            assert time.monotonic() < deadline, rounds
            left.check()
            time.sleep(0.01)
    finally:
        left.stop()
    assert rounds == [GONE, GONE]
    assert "stopping what server(s) ['server-a'] left failed" in caplog.text
    assert "stopped 2 process(es) left by server(s) ['server-a']" in caplog.text
