"""The actor that owns one process on a node: starts it, buffers its output, reports its exit,
stops it with grace. Ray runs it as a detached, named actor (``handle.py`` talks to it); its
methods run on a few threads, so a reader waiting for lines does not hold up a stop."""

from __future__ import annotations

import os
import signal
import subprocess
import threading

import ray

from kiln.compute.ray.lines import LineBuffer
from kiln.compute.ray.plans import Launch, Placed, listening
from kiln.ports import free_port

# Threads per actor: the server's readers of both streams, a waiter, a stop, a poll.
CONCURRENCY = 8


class ProcessHost:
    """One process on this node, from ``start`` until the actor is killed."""

    def __init__(self) -> None:
        self._popen: subprocess.Popen[bytes] | None = None
        self._placed: Placed | None = None
        self._streams = {"stdout": LineBuffer(), "stderr": LineBuffer()}
        self._exited = threading.Event()

    def start(self, launch: Launch) -> Placed:
        """Create the workspace, start the process in its own session; where it runs."""
        node_id = ray.get_runtime_context().get_node_id()
        host = ray.util.get_node_ip_address()
        argv, address = list(launch.argv), None
        if launch.listens:
            port = free_port(host)
            argv, address = listening(argv, host, port), f"tcp://{host}:{port}"
        launch.workspace.mkdir(parents=True, exist_ok=True)
        launch.cwd.mkdir(parents=True, exist_ok=True)
        env = {**launch.env, "KILN_RAY_NODE_ID": node_id, "KILN_RAY_NODE_IP": host}
        # Ray names the GPUs it gave this actor here; the process gets the same ones.
        if "CUDA_VISIBLE_DEVICES" in os.environ:
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        self._popen = subprocess.Popen(
            argv,
            env=env,
            cwd=launch.cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        for name, stream in (("stdout", self._popen.stdout), ("stderr", self._popen.stderr)):
            assert stream is not None
            threading.Thread(target=self._streams[name].pump, args=(stream,), daemon=True).start()
        threading.Thread(target=self._reap, daemon=True).start()
        self._placed = Placed(node_id, host, address)
        return self._placed

    def placed(self) -> Placed | None:
        """Where it runs (None before ``start``)."""
        return self._placed

    def read(self, stream: str, cursor: int, timeout: float) -> tuple[list[bytes], int, bool]:
        """``stream``'s lines from ``cursor`` (see ``LineBuffer.read``)."""
        return self._streams[stream].read(cursor, timeout)

    def poll(self) -> int | None:
        """The exit code, or None while it runs."""
        return None if self._popen is None else self._popen.poll()

    def wait(self, timeout: float) -> int | None:
        """The exit code once it exits within ``timeout`` seconds; else None."""
        self._exited.wait(timeout)
        return self.poll()

    def stop(self, grace: float) -> int | None:
        """SIGTERM its process group, SIGKILL the group after ``grace`` seconds; the exit code."""
        if self._popen is None:
            return None
        _signal_group(self._popen.pid, signal.SIGTERM)
        self._exited.wait(grace)
        # The group may outlive its leader (a child that ignored SIGTERM): kill it all.
        _signal_group(self._popen.pid, signal.SIGKILL)
        self._exited.wait()
        return self._popen.returncode

    def _reap(self) -> None:
        assert self._popen is not None
        self._popen.wait()
        self._exited.set()


def _signal_group(pgid: int, signum: signal.Signals) -> None:
    try:
        os.killpg(pgid, signum)
    except ProcessLookupError:
        pass
