"""What the server holds of a process a Ray actor owns: its ref, lines, exit, stop, and why it
was lost when its node died."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import ray
from ray.exceptions import ActorUnavailableError, GetTimeoutError, RayActorError

from kiln.compute.base import Stream
from kiln.compute.ray.plans import RayRef

# Each call waits on the node at most this long, so a dead node is noticed between calls.
WAIT_SLICE = 2.0
# How long a call may take beyond what it waits for on the node (a loaded cluster).
CALL_SLACK = 30.0
# A process whose actor is gone reads as killed (SIGKILL), as a process on a dead machine.
LOST_EXIT = -signal.SIGKILL
# How long an actor's death waits for Ray's verdict on its node: a killed node's workers end at
# once, but Ray declares the node dead only once its health checks have failed.
NODE_VERDICT_SECONDS = 10.0


class RayProcess:
    """A process on a node, through the detached actor that owns it."""

    def __init__(self, actor: Any, ref: RayRef, on_release: Callable[[RayRef], None]) -> None:
        self._actor = actor
        self._ref = ref
        self._on_release = on_release
        self._exit: int | None = None
        self._lost: str | None = None
        self._released = False
        # Where each stream's reading is: a second ``lines`` call goes on from there.
        self._cursors = {Stream.STDOUT: 0, Stream.STDERR: 0}

    @property
    def ref(self) -> str:
        """The stored form: the actor's name and namespace, where it was placed."""
        return self._ref.dump()

    @property
    def address(self) -> str | None:
        """``tcp://<node ip>:<port>`` for a replica; None for a job's host."""
        return self._ref.address

    @property
    def host(self) -> str:
        """The node's address."""
        return self._ref.host

    @property
    def local_pid(self) -> None:
        """None: the process runs on a node, not in this server's process tree."""
        return None

    def lines(self, stream: Stream) -> Iterator[bytes]:
        """``stream``'s lines as the node reads them, until the stream or the actor ends."""
        while True:
            answer = self._call("read", stream.value, self._cursors[stream], WAIT_SLICE)
            if answer is None:
                return
            lines, self._cursors[stream], ended = answer
            yield from lines
            if ended:
                return

    def poll(self) -> int | None:
        """The exit code, or None while it runs (``LOST_EXIT`` once its actor is gone)."""
        if self._exit is None:
            answer = self._call("poll")
            self._exit = LOST_EXIT if self._lost is not None else answer
        return self._exit

    def wait(self, timeout: float | None = None) -> int:
        """The exit code (``subprocess.TimeoutExpired`` after ``timeout``)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self._exit is None:
            left = WAIT_SLICE if deadline is None else deadline - time.monotonic()
            if left <= 0:
                raise subprocess.TimeoutExpired(self._ref.actor, timeout or 0.0)
            answer = self._call("wait", min(left, WAIT_SLICE))
            self._exit = LOST_EXIT if self._lost is not None else answer
        return self._exit

    def stop(self, grace: float) -> int:
        """SIGTERM the process group on its node, SIGKILL after ``grace``; the exit code."""
        if self._exit is None:
            answer = self._call("stop", grace, slack=grace)
            self._exit = LOST_EXIT if answer is None else answer
        return self._exit

    def was_oom_killed(self) -> bool:
        """False: a node's OOM kill is not told apart from another SIGKILL yet."""
        return False

    def lost_reason(self) -> str | None:
        """Why it ended without exiting (its node died, naming it); None while it answers."""
        if self._lost is None and self._exit is None:
            self._call("placed")
        return self._lost

    def release(self) -> None:
        """Kill what is left of the process group and the actor; free its placement group."""
        if self._released:
            return
        self._released = True
        if self._lost is None:
            self._call("stop", 0.0)
        try:
            ray.kill(self._actor, no_restart=True)
        except RayActorError:
            pass
        self._on_release(self._ref)

    def _call(self, method: str, *args: Any, slack: float = 0.0) -> Any:
        """The actor's answer; None once it is gone (``_lost`` then says why)."""
        if self._lost is not None:
            return None
        wait = float(args[-1]) if method in ("read", "wait") else 0.0
        while True:
            try:
                return ray.get(
                    getattr(self._actor, method).remote(*args),
                    timeout=wait + slack + CALL_SLACK,
                )
            except ActorUnavailableError:
                # Unreachable for now (its node may come back, or be declared dead): ask again.
                if _is_node_dead(self._ref):
                    self._lost = _node_died(self._ref)
                    return None
                time.sleep(WAIT_SLICE / 4)
            except RayActorError as error:
                self._lost = lost_reason(self._ref, error)
                return None
            except GetTimeoutError:
                # The node may be gone before Ray has declared it dead: ask again.
                if _is_node_dead(self._ref):
                    self._lost = _node_died(self._ref)
                    return None


def lost_reason(ref: RayRef, error: BaseException) -> str:
    """Why the actor of ``ref`` is gone: its node died (naming it), or what Ray said."""
    deadline = time.monotonic() + NODE_VERDICT_SECONDS
    while not _is_node_dead(ref):
        if time.monotonic() >= deadline:
            return (
                f"its Ray actor {ref.actor} on node {ref.host} ended: {str(error).splitlines()[0]}"
            )
        time.sleep(WAIT_SLICE / 4)
    return _node_died(ref)


def _is_node_dead(ref: RayRef) -> bool:
    """Whether Ray no longer counts ``ref``'s node among the live ones."""
    return not any(n["NodeID"] == ref.node_id and n["Alive"] for n in ray.nodes())


def _node_died(ref: RayRef) -> str:
    return f"node {ref.host} (Ray node {ref.node_id}) died"
