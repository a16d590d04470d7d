"""Adaptive micro-batching in the replica: concurrent requests share one ``predict`` call.

The algorithm (docs/batching.md says why): the replica's event loop is the queue. Each request
is decoded on its own (``input_fn``) and, if its input can be stacked, parked; the first one
parked schedules a flush for the loop's next turn. By then every request that arrived in the
same turn has parked too, so the flush takes them all, stacks the compatible ones (same trailing
shape and dtype, at most ``max_rows`` rows a batch, first come first served), calls ``predict``
once per batch, splits the prediction back by each request's row count and encodes each answer
on its own (``output_fn``). While ``predict`` runs, the loop is busy and new requests wait in the
socket buffers; they form the next batch. So the batch size follows the load with no timer, and
a lone request pays one loop turn (a few µs), never a wait.

One bad request fails alone: if a batch's ``predict`` raises, or its prediction cannot be split
by rows, every request of the batch is predicted again on its own.

Settings come from the model's ``Environment``: :mod:`kiln.runtime.batch_settings`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from kiln.runtime.batch_settings import BatchSettings
from kiln.runtime.handlers import Decoded, Handlers, Predictor, Reply

# Only numbers stack into one array that a model reads row by row.
_STACKABLE_KINDS = frozenset("biuf")


def batching_allowed(handlers: Handlers, settings: BatchSettings) -> bool:
    """Whether a replica with ``handlers`` batches: the built-in ``predict_fn``, or the user's
    when opted in and it takes no per-request context; never ``transform_fn``."""
    if not settings.enabled or handlers.transform_fn is not None:
        return False
    predict_fn = handlers.predict_fn
    if predict_fn is None:
        return True
    return settings.custom_predict and not predict_fn.takes_context


StackKey = tuple[tuple[int, ...], str]


def stack_key(data: Any, max_rows: int) -> StackKey | None:
    """What ``data`` must share with others to be stacked with them (trailing shape, dtype);
    None when it is not rows of numbers or holds more than ``max_rows`` rows."""
    if not isinstance(data, np.ndarray) or data.ndim < 2 or data.dtype.kind not in _STACKABLE_KINDS:
        return None
    if not 1 <= data.shape[0] <= max_rows:
        return None
    return data.shape[1:], data.dtype.str


def plan_batches(requests: Sequence[tuple[StackKey, int]], max_rows: int) -> list[list[int]]:
    """Indices of ``requests`` ((key, rows) each, in arrival order) grouped into batches: same
    key, at most ``max_rows`` rows each, first come first served."""
    open_batch: dict[StackKey, int] = {}
    batches: list[list[int]] = []
    rows_in: list[int] = []
    for index, (key, rows) in enumerate(requests):
        at = open_batch.get(key)
        if at is None or rows_in[at] + rows > max_rows:
            at = open_batch[key] = len(batches)
            batches.append([])
            rows_in.append(0)
        batches[at].append(index)
        rows_in[at] += rows
    return batches


def should_wait(queued: int, queued_rows: int, settings: BatchSettings, has_waited: bool) -> bool:
    """Whether a flush waits ``max_delay_s`` for more requests: only with a delay set, at most
    once, never for a lone request and never for a full batch."""
    return (
        settings.max_delay_s > 0
        and not has_waited
        and queued >= 2
        and queued_rows < settings.max_rows
    )


def split_rows(prediction: Any, counts: Sequence[int]) -> list[Any] | None:
    """``prediction`` cut into each request's rows, in order; None when it is not one row of
    answer per input row."""
    if not isinstance(prediction, np.ndarray) or prediction.ndim < 1:
        return None
    if prediction.shape[0] != sum(counts):
        return None
    parts = []
    start = 0
    for count in counts:
        # Contiguous, as an unbatched prediction is: the encoders write such arrays natively.
        parts.append(np.ascontiguousarray(prediction[start : start + count]))
        start += count
    return parts


@dataclass(slots=True)
class _Parked:
    request: Decoded
    key: StackKey
    rows: int
    future: asyncio.Future[Reply]


class BatchingDispatcher:
    """A :data:`~kiln.runtime.model_server.Dispatch` that gathers concurrent requests into one
    ``predict`` call per batch (module docstring)."""

    def __init__(self, predictor: Predictor, settings: BatchSettings) -> None:
        self._predictor = predictor
        self._settings = settings
        self._parked: list[_Parked] = []
        self._flush_pending = False
        self._has_waited = False
        self._timer: asyncio.TimerHandle | None = None

    async def __call__(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        attributes: str | None,
        inference_id: str | None,
    ) -> Reply:
        predictor = self._predictor
        request = predictor.decode(body, content_type, accept, attributes, inference_id)
        key = stack_key(request.data, self._settings.max_rows)
        if key is None:
            return predictor.encode(request, predictor.predict(request.data, request.context))
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Reply] = loop.create_future()
        self._parked.append(_Parked(request, key, request.data.shape[0], future))
        if not self._flush_pending:
            self._flush_pending = True
            loop.call_soon(self._flush)
        elif self._timer is not None and self._queued_rows() >= self._settings.max_rows:
            self._timer.cancel()
            self._timer = None
            loop.call_soon(self._flush)
        return await future

    def _queued_rows(self) -> int:
        return sum(parked.rows for parked in self._parked)

    def _flush(self) -> None:
        parked = self._parked
        if should_wait(len(parked), self._queued_rows(), self._settings, self._has_waited):
            self._has_waited = True
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self._settings.max_delay_s, self._flush)
            return
        self._parked, self._flush_pending, self._has_waited, self._timer = [], False, False, None
        try:
            if len(parked) == 1:
                self._run_alone(parked[0])
                return
            plan = plan_batches([(p.key, p.rows) for p in parked], self._settings.max_rows)
            for indices in plan:
                self._run_batch([parked[i] for i in indices])
        finally:
            for waiting in parked:
                if not waiting.future.done():
                    waiting.future.set_exception(RuntimeError("the batch ended without an answer"))

    def _run_batch(self, batch: list[_Parked]) -> None:
        if len(batch) == 1:
            self._run_alone(batch[0])
            return
        predictor = self._predictor
        stacked = np.concatenate([parked.request.data for parked in batch])
        try:
            prediction = predictor.predict(stacked, batch[0].request.context)
        # Any error of the model's: which request caused it is found by asking each alone.
        except Exception:
            parts = None
        else:
            parts = split_rows(prediction, [parked.rows for parked in batch])
        if parts is None:
            for parked in batch:
                self._run_alone(parked)
            return
        for parked, part in zip(batch, parts, strict=True):
            _settle(parked.future, predictor, parked.request, part)

    def _run_alone(self, parked: _Parked) -> None:
        request = parked.request
        try:
            prediction = self._predictor.predict(request.data, request.context)
        except Exception as e:  # handed to this request's waiter, as inline it would propagate
            _fail(parked.future, e)
            return
        _settle(parked.future, self._predictor, request, prediction)


def _settle(
    future: asyncio.Future[Reply], predictor: Predictor, request: Decoded, prediction: Any
) -> None:
    try:
        reply = predictor.encode(request, prediction)
    except Exception as e:  # this request's own output_fn failed: its answer alone
        _fail(future, e)
        return
    if not future.done():
        future.set_result(reply)


def _fail(future: asyncio.Future[Reply], error: Exception) -> None:
    if not future.done():
        future.set_exception(error)
