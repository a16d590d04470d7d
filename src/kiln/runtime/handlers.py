"""The user's inference module and the handler chain, as sagemaker-inference-toolkit runs them.

The user module (``SAGEMAKER_PROGRAM``, default ``inference.py``) may define (CONTRACTS.md §2.4):

- ``model_fn(model_dir)`` — load the model; default: :func:`kiln.runtime.frameworks.load_model`;
- ``input_fn(input_data, content_type)`` — body to data; default :func:`kiln.runtime.codecs.decode`
  then :func:`kiln.runtime.codecs.model_input` (numeric JSON/CSV as ``float32``);
- ``predict_fn(data, model)`` — default: :func:`kiln.runtime.frameworks.predictor_for`;
- ``output_fn(prediction, accept)`` — default: :func:`kiln.runtime.codecs.encode` by Accept;
- or ``transform_fn(model, input_data, content_type, accept)`` instead of the three above
  (defining it together with any of them is a ``ValueError``, as in the toolkit);
- ``pre_model_fn(model_dir)`` and ``model_warmup_fn(model_dir, model)``, run around ``model_fn``.

Every handler may take one more, trailing argument, a :class:`Context` (checked once, by arity).
``input_data`` is ``str`` for JSON and CSV bodies, else ``bytes``; ``output_fn`` and
``transform_fn`` return a body (``bytes`` or ``str``) or a ``(body, content_type)`` pair, and
the response's Content-Type is otherwise the request's Accept. Raise :class:`InferenceError` to
answer with a status of your choice; any other exception answers 500.

When the defaults decode a JSON object ``{"instances": […]}`` or ``{"inputs": […]}`` and encode
JSON, the response is ``{"predictions": […]}`` (TF Serving's convention, and the benchmark's);
a bare JSON array in gives a bare array out, as SageMaker's scikit-learn container answers.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

from kiln.runtime import codecs, frameworks

# Each handler's arguments without the optional trailing context.
_ARITY = {
    "model_fn": 1,
    "input_fn": 2,
    "predict_fn": 2,
    "output_fn": 2,
    "transform_fn": 4,
    "pre_model_fn": 1,
    "model_warmup_fn": 2,
}


class InferenceError(Exception):
    """Raise from handler code to answer with ``status_code`` (400–599) and ``message``."""

    def __init__(self, status_code: int, message: str) -> None:
        if not 400 <= status_code <= 599:
            raise ValueError(f"InferenceError status_code must be 400-599, not {status_code}")
        super().__init__(message)
        self.status_code = status_code
        self.message = message


class Context:
    """The optional trailing ``context`` argument of every handler: one request's side channel.

    ``custom_attributes`` is the request's ``X-Amzn-SageMaker-Custom-Attributes`` (or None); set
    ``response_custom_attributes`` to send that header back. ``system_properties`` holds
    ``model_dir`` and ``gpu_id``, as the toolkit's context does. ``inference_id`` is the
    request's ``X-Amzn-SageMaker-Inference-Id`` (``InvokeEndpoint``'s ``InferenceId``), or None.
    """

    __slots__ = (
        "custom_attributes",
        "inference_id",
        "response_custom_attributes",
        "system_properties",
    )

    def __init__(
        self,
        custom_attributes: str | None,
        system_properties: Mapping[str, Any],
        inference_id: str | None = None,
    ) -> None:
        self.custom_attributes = custom_attributes
        self.inference_id = inference_id
        self.response_custom_attributes: str | None = None
        self.system_properties = system_properties


class Reply(NamedTuple):
    """One response: body, its Content-Type, and the custom attributes to send back, if any."""

    body: bytes
    content_type: str
    custom_attributes: str | None


class Decoded(NamedTuple):
    """One request after ``input_fn``: the model's input and what encoding its answer needs."""

    data: Any
    envelope: str | None
    """The JSON key the default decoder found the rows under (the answer then wraps them)."""
    accept: str
    kind: str
    """The media type the default encoder writes (Accept, negotiated)."""
    context: Context


class Handler:
    """One user function, called with or without the trailing context as its arity says."""

    __slots__ = ("fn", "name", "takes_context")

    def __init__(self, name: str, fn: Any) -> None:
        if not callable(fn):
            raise TypeError(f"{name} is a {type(fn).__name__}, not a function")
        expected = _ARITY[name]
        arity = _arity(fn, expected)
        if arity not in (expected, expected + 1):
            raise TypeError(
                f"{name} takes {arity} arguments; "
                f"expected {expected} (or {expected + 1} with context)"
            )
        self.name = name
        self.fn: Callable[..., Any] = fn
        self.takes_context = arity == expected + 1

    def __call__(self, context: Context, *args: Any) -> Any:
        return self.fn(*args, context) if self.takes_context else self.fn(*args)


@dataclass(frozen=True)
class Handlers:
    """The user's handlers found in their module; None means the built-in default."""

    source: Path | None = None
    model_fn: Handler | None = None
    input_fn: Handler | None = None
    predict_fn: Handler | None = None
    output_fn: Handler | None = None
    transform_fn: Handler | None = None
    pre_model_fn: Handler | None = None
    model_warmup_fn: Handler | None = None


def find_entry_point(code_dir: Path, entry_point: str) -> Path | None:
    """The user module file ``entry_point`` in ``code_dir`` (``.py`` optional), or None."""
    for name in (entry_point, f"{entry_point}.py"):
        path = code_dir / name
        if path.is_file():
            return path
    return None


def import_user_module(path: Path, code_dir: Path) -> ModuleType:
    """Import ``path`` as a top-level module, with ``code_dir`` first on ``sys.path``."""
    sys.path.insert(0, str(code_dir))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = module
    spec.loader.exec_module(module)
    return module


def resolve_handlers(module: ModuleType | None) -> Handlers:
    """The handlers ``module`` defines, checked; all defaults when ``module`` is None."""
    if module is None:
        return Handlers()
    found = {
        name: Handler(name, fn)
        for name in _ARITY
        if (fn := getattr(module, name, None)) is not None
    }
    source = Path(module.__file__) if module.__file__ else None
    chain = [name for name in ("input_fn", "predict_fn", "output_fn") if name in found]
    if "transform_fn" in found and chain:
        raise ValueError(
            f"{source or module.__name__} defines transform_fn and {', '.join(chain)}: "
            "define either transform_fn or input_fn/predict_fn/output_fn, not both"
        )
    return Handlers(source=source, **found)


class Predictor:
    """A loaded model and its handler chain: one request's bytes in, a :class:`Reply` out.

    Stateless between requests, so a batching or pooling front can call it as it likes.
    """

    def __init__(
        self,
        handlers: Handlers,
        model: Any,
        system_properties: Mapping[str, Any],
        default_accept: str = codecs.JSON,
    ) -> None:
        self.handlers = handlers
        self.model = model
        self.system_properties = system_properties
        self.default_accept = default_accept
        needs_default = handlers.predict_fn is None and handlers.transform_fn is None
        self._default_predict = frameworks.predictor_for(model) if needs_default else _unused

    def invoke(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        attributes: str | None,
        inference_id: str | None = None,
    ) -> Reply:
        """Run the chain on one request; errors propagate (the server maps them to statuses)."""
        transform_fn = self.handlers.transform_fn
        if transform_fn is not None:
            content_type, accept, context = self._opening(
                content_type, accept, attributes, inference_id
            )
            output = transform_fn(context, self.model, _payload(body, content_type), content_type,
                                  accept)  # fmt: skip
            return _reply(output, accept, context)
        request = self.decode(body, content_type, accept, attributes, inference_id)
        return self.encode(request, self.predict(request.data, request.context))

    def decode(
        self,
        body: bytes,
        content_type: str | None,
        accept: str | None,
        attributes: str | None,
        inference_id: str | None = None,
    ) -> Decoded:
        """The chain's first step (``input_fn``) on one request; not for ``transform_fn``."""
        content_type, accept, context = self._opening(
            content_type, accept, attributes, inference_id
        )
        handlers = self.handlers
        # Refuse an unsupported Accept before spending time on the prediction.
        kind = accept if handlers.output_fn else codecs.negotiate(accept, self.default_accept)
        if handlers.input_fn is None:
            data, envelope = codecs.decode(body, content_type)
            return Decoded(codecs.model_input(data, content_type), envelope, accept, kind, context)
        data = handlers.input_fn(context, _payload(body, content_type), content_type)
        return Decoded(data, None, accept, kind, context)

    def predict(self, data: Any, context: Context) -> Any:
        """The chain's second step: ``predict_fn`` (the user's, or the framework's) on ``data``."""
        if self.handlers.predict_fn is not None:
            return self.handlers.predict_fn(context, data, self.model)
        return self._default_predict(data)

    def encode(self, request: Decoded, prediction: Any) -> Reply:
        """The chain's last step (``output_fn``): ``prediction`` as ``request``'s reply."""
        context = request.context
        if self.handlers.output_fn is not None:
            output = self.handlers.output_fn(context, prediction, request.accept)
            return _reply(output, request.accept, context)
        if request.envelope is not None and request.kind == codecs.JSON:
            prediction = {"predictions": prediction}
        kind = request.kind
        return Reply(codecs.encode(prediction, kind), kind, context.response_custom_attributes)

    def _opening(
        self,
        content_type: str | None,
        accept: str | None,
        attributes: str | None,
        inference_id: str | None,
    ) -> tuple[str, str, Context]:
        """A request's Content-Type and Accept with their defaults, and its handlers' context."""
        if not accept or accept == codecs.ANY:
            accept = self.default_accept
        context = Context(attributes, self.system_properties, inference_id)
        return content_type or codecs.JSON, accept, context


def load_predictor(
    handlers: Handlers, model_dir: Path, default_accept: str = codecs.JSON
) -> Predictor:
    """Run ``pre_model_fn``, ``model_fn`` (or the framework default) and ``model_warmup_fn``."""
    properties = {"model_dir": str(model_dir), "gpu_id": 0}
    context = Context(None, properties)
    if handlers.pre_model_fn is not None:
        handlers.pre_model_fn(context, str(model_dir))
    if handlers.model_fn is not None:
        model = handlers.model_fn(context, str(model_dir))
    else:
        model = frameworks.load_model(model_dir)
    if handlers.model_warmup_fn is not None:
        handlers.model_warmup_fn(context, str(model_dir), model)
    return Predictor(handlers, model, properties, default_accept)


def _unused(data: Any) -> Any:
    # The user's predict_fn or transform_fn runs instead; never called.
    raise RuntimeError("no default predict_fn: the user module defines its own")


def _arity(fn: Any, default: int) -> int:
    try:
        return len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        # Some builtins have no signature: call them without context.
        return default


def _payload(body: bytes, content_type: str) -> bytes | str:
    if codecs.media_type(content_type) not in codecs.TEXT_TYPES:
        return body
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise codecs.DecodeError(f"{content_type} body is not UTF-8: {e}") from e


def _reply(output: Any, accept: str, context: Context) -> Reply:
    body, content_type = (
        output if isinstance(output, tuple) and len(output) == 2 else (output, accept)
    )
    if isinstance(body, str):
        body = body.encode()
    elif isinstance(body, bytearray | memoryview):
        body = bytes(body)
    elif not isinstance(body, bytes):
        raise TypeError(
            f"output_fn/transform_fn returned a {type(body).__name__}; expected bytes or str, "
            "or a (body, content_type) pair"
        )
    if not isinstance(content_type, str):
        raise TypeError(
            f"the response content type must be a str, not {type(content_type).__name__}"
        )
    return Reply(body, content_type, context.response_custom_attributes)
