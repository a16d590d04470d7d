"""Micro-batching (kiln.runtime.batching, kiln.runtime.batch_settings): decisions as tables, the
dispatcher on a real Predictor in an event loop, without HTTP."""

from __future__ import annotations

import asyncio
from types import ModuleType
from typing import Any

import numpy as np
import orjson
import pytest

from kiln.runtime.batch_settings import BatchSettings, BatchSettingsError, batch_settings
from kiln.runtime.batching import (
    BatchingDispatcher,
    batching_allowed,
    plan_batches,
    should_wait,
    split_rows,
    stack_key,
)
from kiln.runtime.handlers import Handlers, Predictor, Reply, resolve_handlers

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


PROPS = {"model_dir": "/opt/ml/model", "gpu_id": 0}


class RowSums:
    """A row-wise model that records the shape of every call; negative inputs raise."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, ...]] = []

    def predict(self, data: Any) -> Any:
        self.calls.append(data.shape)
        if (data < 0).any():
            raise ValueError("negative input")
        return data.sum(axis=1)


def predictor(model: Any, **functions: Any) -> Predictor:
    """A predictor with the default handlers, or the user ``functions``."""
    if not functions:
        return Predictor(Handlers(), model, PROPS)
    module = ModuleType("inference")
    module.__file__ = "/code/inference.py"
    for name, fn in functions.items():
        setattr(module, name, fn)
    return Predictor(resolve_handlers(module), model, PROPS)


def body(rows: list[list[float]]) -> bytes:
    """A request body in the benchmark's shape."""
    return orjson.dumps({"inputs": rows})


async def send_all(dispatch: BatchingDispatcher, bodies: list[bytes]) -> list[Reply | Exception]:
    """Every body dispatched in the same loop turn, as concurrent requests arrive."""

    async def one(payload: bytes) -> Reply | Exception:
        try:
            return await dispatch(payload, "application/json", None, None, None)
        except Exception as e:
            return e

    return list(await asyncio.gather(*(one(b) for b in bodies)))


# -- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, BatchSettings(True, 128, 0.0, False)),
        ({"KILN_BATCHING": "off"}, BatchSettings(False, 128, 0.0, False)),
        ({"KILN_BATCHING": " FALSE "}, BatchSettings(False, 128, 0.0, False)),
        ({"KILN_BATCHING": ""}, BatchSettings(True, 128, 0.0, False)),
        ({"KILN_MAX_BATCH_SIZE": "1"}, BatchSettings(True, 1, 0.0, False)),
        ({"KILN_MAX_BATCH_SIZE": "65536"}, BatchSettings(True, 65536, 0.0, False)),
        ({"KILN_MAX_BATCH_DELAY_MS": "2.5"}, BatchSettings(True, 128, 0.0025, False)),
        ({"KILN_MAX_BATCH_DELAY_MS": "1000"}, BatchSettings(True, 128, 1.0, False)),
        ({"KILN_BATCH_CUSTOM_PREDICT": "true"}, BatchSettings(True, 128, 0.0, True)),
    ],
)
def test_batch_settings_read_the_model_environment(
    environ: dict[str, str], expected: BatchSettings
) -> None:
    assert batch_settings(environ) == expected


@pytest.mark.parametrize(
    ("environ", "quoted"),
    [
        ({"KILN_MAX_BATCH_SIZE": "0"}, "'0'"),
        ({"KILN_MAX_BATCH_SIZE": "-4"}, "'-4'"),
        ({"KILN_MAX_BATCH_SIZE": "many"}, "'many'"),
        ({"KILN_MAX_BATCH_SIZE": "1.5"}, "'1.5'"),
        ({"KILN_MAX_BATCH_SIZE": "65537"}, "'65537'"),
        ({"KILN_MAX_BATCH_DELAY_MS": "1001"}, "'1001'"),
        ({"KILN_MAX_BATCH_DELAY_MS": "-1"}, "'-1'"),
        ({"KILN_MAX_BATCH_DELAY_MS": "nan"}, "'nan'"),
        ({"KILN_MAX_BATCH_DELAY_MS": "soon"}, "'soon'"),
        ({"KILN_BATCHING": "maybe"}, "'maybe'"),
        ({"KILN_BATCH_CUSTOM_PREDICT": "2"}, "'2'"),
    ],
)
def test_bad_batch_settings_are_refused_quoting_the_value(
    environ: dict[str, str], quoted: str
) -> None:
    with pytest.raises(BatchSettingsError, match=quoted):
        batch_settings(environ)


def _predict(data: Any, model: Any) -> Any:
    return data


def _predict_with_context(data: Any, model: Any, context: Any) -> Any:
    return data


def _transform(model: Any, data: Any, content_type: str, accept: str) -> Any:
    return data


ON, OFF, OPT_IN = BatchSettings(), BatchSettings(enabled=False), BatchSettings(custom_predict=True)


@pytest.mark.parametrize(
    ("functions", "settings", "allowed"),
    [
        ({}, ON, True),
        ({}, OFF, False),
        ({"predict_fn": _predict}, ON, False),  # a custom predict_fn must opt in
        ({"predict_fn": _predict}, OPT_IN, True),
        ({"predict_fn": _predict_with_context}, OPT_IN, False),  # a context is one request's
        ({"transform_fn": _transform}, OPT_IN, False),  # never
        ({"input_fn": lambda body, content_type: body}, ON, True),  # predict is still built in
    ],
)
def test_batching_allowed_for_built_in_predict_or_opted_in_custom_one(
    functions: dict[str, Any], settings: BatchSettings, allowed: bool
) -> None:
    handlers = predictor(RowSums(), **functions).handlers if functions else Handlers()
    assert batching_allowed(handlers, settings) is allowed


# -- stacking, planning, splitting ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (np.zeros((1, 30), np.float32), ((30,), "<f4")),
        (np.zeros((4, 3, 2), np.int64), ((3, 2), "<i8")),
        (np.zeros((129, 3)), None),  # more rows than a batch holds: alone
        (np.zeros((0, 3)), None),  # no rows
        (np.zeros(3), None),  # one dimension: no rows to stack
        (np.array([["a", "b"]]), None),  # strings
        ({"inputs": [[1.0]]}, None),  # not an array
    ],
)
def test_stack_key_is_trailing_shape_and_dtype_of_row_arrays(data: Any, key: Any) -> None:
    assert stack_key(data, 128) == key


A, B = ((30,), "<f4"), ((3,), "<f4")


@pytest.mark.parametrize(
    ("requests", "max_rows", "batches"),
    [
        ([(A, 1), (A, 1), (A, 1)], 128, [[0, 1, 2]]),
        ([(A, 1), (B, 1), (A, 1), (B, 1)], 128, [[0, 2], [1, 3]]),  # never mixed
        ([(A, 1)] * 5, 2, [[0, 1], [2, 3], [4]]),  # 2 rows a batch: 1+1, 1+1, 1
        ([(A, 3), (A, 2), (A, 1)], 4, [[0], [1, 2]]),  # 3+2 > 4: the 2 opens the next
        ([(A, 64), (A, 64), (A, 1)], 128, [[0, 1], [2]]),  # 64+64 = 128 full
    ],
)
def test_plan_batches_groups_by_key_up_to_max_rows_in_arrival_order(
    requests: list[Any], max_rows: int, batches: list[list[int]]
) -> None:
    assert plan_batches(requests, max_rows) == batches


@pytest.mark.parametrize(
    ("queued", "rows", "settings", "has_waited", "waits"),
    [
        (1, 1, BatchSettings(max_delay_s=0.5), False, False),  # alone: never
        (2, 2, BatchSettings(max_delay_s=0.5), False, True),
        (2, 2, BatchSettings(max_delay_s=0.5), True, False),  # once at most
        (2, 2, BatchSettings(), False, False),  # no delay set
        (2, 128, BatchSettings(max_delay_s=0.5), False, False),  # full
    ],
)
def test_should_wait_only_for_company_of_two_or_more_below_a_full_batch(
    queued: int, rows: int, settings: BatchSettings, has_waited: bool, waits: bool
) -> None:
    assert should_wait(queued, rows, settings, has_waited) is waits


def test_split_rows_cuts_by_each_requests_row_count() -> None:
    parts = split_rows(np.arange(6), [1, 3, 2])
    assert parts is not None
    assert [p.tolist() for p in parts] == [[0], [1, 2, 3], [4, 5]]


@pytest.mark.parametrize(
    "prediction",
    [np.arange(5), np.float64(1.0), [0, 1, 2, 3, 4, 5], {"a": np.arange(6)}],
)
def test_split_rows_refuses_what_is_not_one_answer_per_row(prediction: Any) -> None:
    assert split_rows(prediction, [1, 3, 2]) is None


def test_split_rows_gives_contiguous_parts_of_a_fortran_ordered_prediction() -> None:
    parts = split_rows(np.asfortranarray(np.ones((4, 3), np.float32)), [2, 2])
    assert parts is not None
    assert all(p.flags.c_contiguous for p in parts)


# -- the dispatcher -------------------------------------------------------------------------------


async def test_concurrent_requests_share_one_predict_and_get_the_unbatched_bodies() -> None:
    rng = np.random.default_rng(0)
    bodies = [body(rng.random((int(n), 4)).tolist()) for n in rng.integers(1, 5, 16)]
    inline = predictor(RowSums())
    expected = [inline.invoke(b, "application/json", None, None) for b in bodies]
    model = RowSums()
    replies = await send_all(BatchingDispatcher(predictor(model), BatchSettings()), bodies)
    assert replies == expected
    assert len(model.calls) == 1


async def test_a_lone_request_is_predicted_without_waiting_for_the_delay() -> None:
    model = RowSums()
    dispatch = BatchingDispatcher(predictor(model), BatchSettings(max_delay_s=1.0))
    reply = await asyncio.wait_for(dispatch(body([[1, 2]]), None, None, None, None), 0.5)
    assert orjson.loads(reply.body) == {"predictions": [3.0]}
    assert model.calls == [(1, 2)]


async def test_one_bad_request_fails_alone_and_the_others_are_answered() -> None:
    model = RowSums()
    dispatch = BatchingDispatcher(predictor(model), BatchSettings())
    replies = await send_all(dispatch, [body([[1, 1]]), body([[-1, 1]]), body([[2, 2]])])
    assert isinstance(replies[1], ValueError)
    assert [orjson.loads(r.body) for r in (replies[0], replies[2])] == [  # type: ignore[union-attr]
        {"predictions": [2.0]},
        {"predictions": [4.0]},
    ]
    assert model.calls == [(3, 2), (1, 2), (1, 2), (1, 2)]  # the batch, then each alone


async def test_inputs_that_cannot_stack_are_never_mixed_in_one_batch() -> None:
    model = RowSums()
    dispatch = BatchingDispatcher(predictor(model), BatchSettings())
    await send_all(dispatch, [body([[1, 1]]), body([[1, 1, 1]]), body([[2, 2]]), body([[3] * 3])])
    assert sorted(model.calls) == [(2, 2), (2, 3)]


async def test_batches_hold_at_most_max_rows() -> None:
    model = RowSums()
    dispatch = BatchingDispatcher(predictor(model), BatchSettings(max_rows=2))
    await send_all(dispatch, [body([[i, i]]) for i in range(5)])
    assert model.calls == [(2, 2), (2, 2), (1, 2)]


async def test_a_request_bigger_than_a_batch_runs_alone_and_is_answered() -> None:
    model = RowSums()
    dispatch = BatchingDispatcher(predictor(model), BatchSettings(max_rows=2))
    replies = await send_all(dispatch, [body([[1, 1]] * 3), body([[1, 1]])])
    assert sorted(model.calls) == [(1, 2), (3, 2)]
    assert orjson.loads(replies[0].body) == {"predictions": [2.0] * 3}  # type: ignore[union-attr]


async def test_with_a_delay_a_queued_pair_waits_for_a_later_request() -> None:
    model = RowSums()
    dispatch = BatchingDispatcher(predictor(model), BatchSettings(max_delay_s=0.2))

    async def later() -> Reply | Exception:
        await asyncio.sleep(0.01)
        return (await send_all(dispatch, [body([[5, 5]])]))[0]

    await asyncio.gather(send_all(dispatch, [body([[1, 1]]), body([[2, 2]])]), later())
    assert model.calls == [(3, 2)]


async def test_a_prediction_that_cannot_be_split_is_asked_again_per_request() -> None:
    def total(data: Any, model: Any) -> Any:
        return float(np.asarray(data).sum())  # one number for the whole batch

    dispatch = BatchingDispatcher(
        predictor(None, predict_fn=total), BatchSettings(custom_predict=True)
    )
    replies = await send_all(dispatch, [body([[1, 1]]), body([[2, 2]])])
    assert [orjson.loads(r.body) for r in replies] == [  # type: ignore[union-attr]
        {"predictions": 2.0},
        {"predictions": 4.0},
    ]


async def test_each_request_keeps_its_own_accept_in_a_shared_batch() -> None:
    model = RowSums()
    dispatch = BatchingDispatcher(predictor(model), BatchSettings())
    json_reply, csv_reply = await asyncio.gather(
        dispatch(body([[1, 2]]), "application/json", "application/json", None, None),
        dispatch(b"3,4\n", "text/csv", "text/csv", None, None),
    )
    assert (json_reply.body, csv_reply.body) == (b'{"predictions":[3.0]}', b"7.0\n")
    assert model.calls == [(2, 2)]
