"""Handler resolution and the handler chain (kiln.runtime.handlers), without HTTP."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import joblib
import numpy as np
import orjson
import pytest
from sklearn.linear_model import LinearRegression

from kiln.runtime.codecs import NotAcceptableError
from kiln.runtime.handlers import (
    Context,
    Handler,
    Handlers,
    InferenceError,
    Predictor,
    find_entry_point,
    import_user_module,
    load_predictor,
    resolve_handlers,
)

PROPS = {"model_dir": "/opt/ml/model", "gpu_id": 0}


class Doubler:
    """A model whose predict doubles its input."""

    def predict(self, data: Any) -> Any:
        return np.asarray(data) * 2


def module(**functions: Any) -> ModuleType:
    """A stand-in user module defining ``functions``."""
    mod = ModuleType("inference")
    mod.__file__ = "/code/inference.py"
    for name, fn in functions.items():
        setattr(mod, name, fn)
    return mod


def predictor(model: Any = None, **functions: Any) -> Predictor:
    """A predictor over ``model`` (default: Doubler) with the user ``functions``."""
    handlers = resolve_handlers(module(**functions)) if functions else Handlers()
    return Predictor(handlers, Doubler() if model is None else model, PROPS)


@pytest.fixture
def isolated_imports() -> Iterator[None]:
    """Undo what import_user_module does to sys.path and sys.modules."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        del sys.modules[name]


def test_no_user_module_means_all_defaults() -> None:
    assert resolve_handlers(None) == Handlers()


def test_transform_fn_with_predict_fn_is_a_value_error() -> None:
    user = module(transform_fn=lambda m, d, c, a: d, predict_fn=lambda d, m: d)
    with pytest.raises(ValueError, match="transform_fn and predict_fn"):
        resolve_handlers(user)


@pytest.mark.parametrize("other", ["input_fn", "output_fn"])
def test_transform_fn_with_any_of_the_chain_is_a_value_error(other: str) -> None:
    user = module(transform_fn=lambda m, d, c, a: d, **{other: lambda x, y: x})
    with pytest.raises(ValueError, match=f"transform_fn and {other}"):
        resolve_handlers(user)


def test_transform_fn_with_model_fn_is_allowed() -> None:
    handlers = resolve_handlers(module(transform_fn=lambda m, d, c, a: d, model_fn=lambda d: 1))
    assert handlers.transform_fn is not None
    assert handlers.model_fn is not None


def test_handler_without_context_is_called_without_it() -> None:
    handler = Handler("predict_fn", lambda data, model: (data, model))
    assert not handler.takes_context
    assert handler(Context(None, PROPS), 1, 2) == (1, 2)


def test_handler_with_one_more_argument_gets_the_context_last() -> None:
    context = Context("a=1", PROPS)
    handler = Handler("predict_fn", lambda data, model, ctx: ctx.custom_attributes)
    assert handler.takes_context
    assert handler(context, 1, 2) == "a=1"


def test_handler_with_the_wrong_arity_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="predict_fn takes 1 arguments; expected 2"):
        Handler("predict_fn", lambda data: data)


def test_handler_that_is_not_callable_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="model_fn is a str"):
        resolve_handlers(module(model_fn="model.pkl"))


def test_default_chain_answers_a_bare_list_with_a_bare_list() -> None:
    reply = predictor().invoke(b"[[1, 2]]", "application/json", "application/json", None)
    assert (orjson.loads(reply.body), reply.content_type) == ([[2, 4]], "application/json")


def test_default_chain_answers_inputs_with_predictions() -> None:
    reply = predictor().invoke(b'{"inputs": [[1], [2]]}', None, None, None)
    assert orjson.loads(reply.body) == {"predictions": [[2], [4]]}


def test_envelope_is_json_only_csv_answers_plain_rows() -> None:
    reply = predictor().invoke(b'{"instances": [[1, 2]]}', "application/json", "text/csv", None)
    assert (reply.body, reply.content_type) == (b"2.0,4.0\n", "text/csv")  # float32 in, out


@pytest.mark.parametrize(
    ("body", "content_type", "dtype"),
    [
        (b"[[1, 2]]", "application/json", "float32"),  # ints: as the containers' FloatTensor
        (b"1,2\n", "text/csv", "float32"),
        (b'[["a", "b"]]', "application/json", "<U1"),  # text stays text
    ],
)
def test_default_input_fn_casts_numeric_text_bodies_to_float32(
    body: bytes, content_type: str, dtype: str
) -> None:
    seen = predictor(predict_fn=lambda data, model: str(data.dtype))
    reply = seen.invoke(body, content_type, "application/json", None)
    assert orjson.loads(reply.body) == dtype


def test_missing_or_wildcard_accept_means_the_default_accept() -> None:
    handlers = Handlers()
    csv_first = Predictor(handlers, Doubler(), PROPS, default_accept="text/csv")
    assert csv_first.invoke(b"[[1]]", None, "*/*", None).content_type == "text/csv"
    assert csv_first.invoke(b"[[1]]", None, None, None).content_type == "text/csv"


def test_unsupported_accept_is_refused_before_predicting() -> None:
    calls: list[Any] = []
    slow = predictor(predict_fn=lambda data, model: calls.append(data))
    with pytest.raises(NotAcceptableError):
        slow.invoke(b"[[1]]", None, "image/png", None)
    assert calls == []


def test_user_input_fn_gets_text_for_json_and_bytes_for_npy() -> None:
    seen: list[Any] = []
    user = predictor(input_fn=lambda data, content_type: seen.append(data) or [[1]])
    user.invoke(b"[[1]]", "application/json", None, None)
    user.invoke(b"\x93NUMPY", "application/x-npy", None, None)
    assert seen == ["[[1]]", b"\x93NUMPY"]


def test_context_carries_custom_attributes_both_ways() -> None:
    def predict_fn(data: Any, model: Any, context: Context) -> Any:
        context.response_custom_attributes = f"echo:{context.custom_attributes}"
        return data

    reply = predictor(predict_fn=predict_fn).invoke(b"[1]", None, None, "trace=7")
    assert reply.custom_attributes == "echo:trace=7"


def test_output_fn_may_return_body_and_content_type() -> None:
    user = predictor(output_fn=lambda prediction, accept: ("ok", "text/plain"))
    reply = user.invoke(b"[1]", None, "application/json", None)
    assert (reply.body, reply.content_type) == (b"ok", "text/plain")


def test_output_fn_body_alone_is_sent_as_the_accept_type() -> None:
    user = predictor(output_fn=lambda prediction, accept: b"raw")
    assert user.invoke(b"[1]", None, "application/x-custom", None).content_type == (
        "application/x-custom"
    )


def test_output_fn_returning_neither_bytes_nor_str_is_a_type_error() -> None:
    user = predictor(output_fn=lambda prediction, accept: [1, 2])
    with pytest.raises(TypeError, match="returned a list"):
        user.invoke(b"[1]", None, None, None)


def test_transform_fn_gets_model_text_body_and_both_types() -> None:
    def transform_fn(model: Any, data: Any, content_type: str, accept: str) -> tuple[str, str]:
        return f"{type(model).__name__}|{data}|{content_type}|{accept}", "text/plain"

    reply = predictor(transform_fn=transform_fn).invoke(b"[1]", "text/csv", "*/*", None)
    assert reply.body == b"Doubler|[1]|text/csv|application/json"


def test_model_without_predict_needs_a_predict_fn() -> None:
    with pytest.raises(TypeError, match="define predict_fn"):
        predictor(model=object())


def test_inference_error_keeps_status_and_message() -> None:
    error = InferenceError(422, "bad rows")
    assert (error.status_code, error.message, str(error)) == (422, "bad rows", "bad rows")


def test_inference_error_refuses_a_success_status() -> None:
    with pytest.raises(ValueError, match="400-599"):
        InferenceError(200, "fine")


def test_load_runs_pre_model_model_and_warmup_in_order(tmp_path: Path) -> None:
    calls: list[str] = []
    handlers = resolve_handlers(
        module(
            pre_model_fn=lambda model_dir: calls.append(f"pre {model_dir}"),
            model_fn=lambda model_dir, context: (
                calls.append(context.system_properties["gpu_id"]) or Doubler()
            ),
            model_warmup_fn=lambda model_dir, model: calls.append(type(model).__name__),
        )
    )
    loaded = load_predictor(handlers, tmp_path)
    assert calls == [f"pre {tmp_path}", 0, "Doubler"]
    assert loaded.system_properties["model_dir"] == str(tmp_path)


def test_load_without_model_fn_uses_the_framework_default(tmp_path: Path) -> None:
    joblib.dump(LinearRegression().fit([[0.0], [1.0]], [0.0, 2.0]), tmp_path / "model.joblib")
    reply = load_predictor(Handlers(), tmp_path).invoke(b"[[3.0]]", None, None, None)
    assert orjson.loads(reply.body) == pytest.approx([6.0])


def test_entry_point_is_found_with_or_without_py(tmp_path: Path) -> None:
    (tmp_path / "inference.py").write_text("")
    assert find_entry_point(tmp_path, "inference.py") == tmp_path / "inference.py"
    assert find_entry_point(tmp_path, "inference") == tmp_path / "inference.py"
    assert find_entry_point(tmp_path, "serve.py") is None


@pytest.mark.usefixtures("isolated_imports")
def test_user_module_imports_its_neighbours_from_the_code_dir(tmp_path: Path) -> None:
    (tmp_path / "kiln_test_helper.py").write_text("FACTOR = 3\n")
    (tmp_path / "kiln_test_entry.py").write_text(
        "from kiln_test_helper import FACTOR\ndef predict_fn(data, model):\n    return FACTOR\n"
    )
    handlers = resolve_handlers(import_user_module(tmp_path / "kiln_test_entry.py", tmp_path))
    assert handlers.source == tmp_path / "kiln_test_entry.py"
    assert handlers.predict_fn is not None
    assert handlers.predict_fn(Context(None, PROPS), None, None) == 3
