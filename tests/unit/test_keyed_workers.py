"""``KeyedWorkers``: one thread per key, wakes coalesced, none lost; real threads throughout."""

from __future__ import annotations

import threading
import time

import pytest

from kiln.services.hosting.workers import KeyedWorkers


def _settle(workers: KeyedWorkers, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while workers.running():
        assert time.monotonic() < deadline, f"still running: {workers.running()}"
        time.sleep(0.001)


class _Recorder:
    """A work function that notes how many runs of a key overlap and what each run saw."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.active = 0
        self.most_active = 0
        self.wanted = 0
        self.last_seen = -1
        self.runs = 0

    def want(self) -> None:
        with self.lock:
            self.wanted += 1

    def work(self, _key: str) -> None:
        with self.lock:
            self.active += 1
            self.most_active = max(self.most_active, self.active)
            self.last_seen = self.wanted
            self.runs += 1
        time.sleep(0.0005)
        with self.lock:
            self.active -= 1


def test_racing_wakes_never_run_one_key_on_two_threads_and_none_is_lost() -> None:
    recorder = _Recorder()
    workers = KeyedWorkers(recorder.work, name="test")
    start = threading.Barrier(8)

    def waker() -> None:
        start.wait()
        for _ in range(200):
            recorder.want()
            workers.wake("endpoint")

    wakers = [threading.Thread(target=waker) for _ in range(8)]
    for thread in wakers:
        thread.start()
    for thread in wakers:
        thread.join()
    _settle(workers)
    assert recorder.most_active == 1
    assert recorder.last_seen == recorder.wanted == 1600  # the last change was acted on
    assert recorder.runs < 1600  # wakes during a run coalesced


class _HeldRun:
    """Workers whose runs note their key, then wait for ``release``; ``a`` is running."""

    def __init__(self) -> None:
        self.entered, self.release = threading.Event(), threading.Event()
        self.runs: list[str] = []
        self.workers = KeyedWorkers(self._work, name="test")
        self.workers.wake("a")
        assert self.entered.wait(10)

    def _work(self, key: str) -> None:
        self.runs.append(key)
        self.entered.set()
        assert self.release.wait(10)


def test_a_wake_during_a_run_runs_the_key_once_more() -> None:
    held = _HeldRun()
    held.workers.wake("a")
    held.workers.wake("a")
    assert held.workers.is_woken("a")
    held.release.set()
    _settle(held.workers)
    assert held.runs == ["a", "a"]
    assert not held.workers.is_woken("a")


def test_keys_run_side_by_side() -> None:
    both = threading.Barrier(2, timeout=10)
    workers = KeyedWorkers(lambda _key: both.wait(), name="test")
    workers.wake("a")
    workers.wake("b")
    _settle(workers)
    assert not both.broken


def test_a_run_that_raises_leaves_the_key_free_for_the_next_wake(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raised = threading.Event()
    monkeypatch.setattr(threading, "excepthook", lambda _args: raised.set())
    runs: list[int] = []

    def work(_key: str) -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("the disk is full")

    workers = KeyedWorkers(work, name="test")
    workers.wake("a")
    assert raised.wait(10)
    _settle(workers)
    workers.wake("a")
    _settle(workers)
    assert runs == [0, 1]


def test_stop_waits_for_the_run_under_way_and_starts_no_more() -> None:
    held = _HeldRun()
    held.workers.wake("a")  # would rerun, but stop comes first
    threading.Timer(0.05, held.release.set).start()
    held.workers.stop(timeout=10)
    held.workers.wake("b")
    assert held.runs == ["a"]
    assert held.workers.running() == set()
