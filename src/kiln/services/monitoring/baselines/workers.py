"""A few analyzer worker processes, each ``python -m`` this module, fed one task at a time.

Not ``multiprocessing``: its ``spawn`` and ``forkserver`` children import the caller's
``__main__`` again (the whole CLI or server, or a script's unguarded top level), and ``fork``
is unsafe in a server that runs threads. A worker here imports only the analyzer. A task is a
module-level function and its arguments, pickled over the worker's stdin; the answer (or the
exception) comes back pickled over its stdout. Parent and workers are the same program over
private pipes, so unpickling is trusted.
"""

from __future__ import annotations

import importlib
import os
import pickle
import queue
import subprocess
import sys
import traceback
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import IO, Any, Self

_MODULE = "kiln.services.monitoring.baselines.workers"


class WorkersBrokenError(RuntimeError):
    """A worker process could not start or died mid-task."""


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.text = "".join(traceback.format_exception(error))


class Workers:
    """``count`` worker processes; ``map`` runs tasks on them, results in order."""

    def __init__(self, count: int) -> None:
        environment = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self._processes = [
            subprocess.Popen(
                [sys.executable, "-m", _MODULE],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=environment,
            )
            for _ in range(count)
        ]
        self._idle: queue.SimpleQueue[subprocess.Popen[bytes]] = queue.SimpleQueue()
        for process in self._processes:
            self._idle.put(process)

    def map(self, function: Callable[..., Any], *arguments: Iterable[Any]) -> list[Any]:
        """``function`` applied to each tuple of ``arguments``, spread over the workers."""
        return list(self.imap(function, *arguments))

    def imap(self, function: Callable[..., Any], *arguments: Iterable[Any]) -> Iterator[Any]:
        """Like ``map``, yielding each result in order as soon as it and those before it are
        done, so a caller that folds them holds only a few at a time."""
        tasks = list(zip(*arguments, strict=True))
        with ThreadPoolExecutor(len(self._processes)) as threads:
            yield from threads.map(lambda task: self._run(function, task), tasks)

    def _run(self, function: Callable[..., Any], task: tuple[Any, ...]) -> Any:
        process = self._idle.get()
        try:
            assert process.stdin is not None
            assert process.stdout is not None
            _send(process.stdin, (function, task))
            answer = _receive(process.stdout)
        except (OSError, EOFError, pickle.UnpicklingError) as error:
            raise WorkersBrokenError(f"analyzer worker {process.pid} failed: {error}") from error
        finally:
            self._idle.put(process)
        if isinstance(answer, _Failure):
            raise answer.error from RuntimeError(answer.text)
        return answer

    def close(self) -> None:
        """Stop every worker (closing its stdin ends its loop) and reap it."""
        for process in self._processes:
            if process.stdin:
                process.stdin.close()
        for process in self._processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdout:
                process.stdout.close()

    def __enter__(self) -> Self:
        """The workers, stopped on exit."""
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the workers."""
        self.close()


def _send(pipe: IO[bytes], value: object) -> None:
    data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
    pipe.write(len(data).to_bytes(8, "little") + data)
    pipe.flush()


def _receive(pipe: IO[bytes]) -> Any:
    head = pipe.read(8)
    if len(head) < 8:
        raise EOFError("worker closed its pipe")
    data = pipe.read(int.from_bytes(head, "little"))
    return pickle.loads(data)  # our own worker's answer, over a private pipe


def serve(source: IO[bytes], sink: IO[bytes]) -> None:
    """A worker's loop: run each task read from ``source``, answer on ``sink``, until EOF."""
    while True:
        try:
            function, task = _receive(source)
        except EOFError:
            return
        try:
            answer: object = function(*task)
        except Exception as error:  # the parent re-raises it
            answer = _Failure(error)
        _send(sink, answer)


def main() -> None:
    """Serve tasks over stdin/stdout; anything else printed goes to stderr, not into answers."""
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    # Run as __main__, this module's classes would pickle under that name: use the module's own.
    importlib.import_module(_MODULE).serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
