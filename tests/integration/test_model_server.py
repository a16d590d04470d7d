"""The model replica as a real process: ``python -m kiln.runtime.model_server``."""

from __future__ import annotations

import asyncio
import io
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import joblib
import numpy as np
import orjson
import pytest
from sklearn.datasets import load_breast_cancer

from conftest import free_port, sklearn_model_files, source_tarball
from kiln.runtime.handlers import Reply
from kiln.runtime.model_server import MAX_BODY_BYTES, ReplicaApp, prepare_model_dir

ROWS = load_breast_cancer().data[:5]

CUSTOM_CODE = """
import json, os
from kiln.runtime.handlers import InferenceError

def model_fn(model_dir):
    with open(os.path.join(model_dir, "factor.txt")) as f:
        return float(f.read())

def input_fn(body, content_type):
    return json.loads(body)

def predict_fn(data, model, context):
    if data.get("fail"):
        raise RuntimeError("model exploded")
    if data.get("reject"):
        raise InferenceError(422, "x must not be empty")
    context.response_custom_attributes = "seen=" + (context.custom_attributes or "none")
    return [x * model for x in data["x"]]

def output_fn(prediction, accept):
    return json.dumps({"y": prediction}), "application/vnd.kiln+json"
"""

TRANSFORM_CODE = """
def model_fn(model_dir):
    return "upper"

def transform_fn(model, data, content_type, accept):
    return data.upper()
"""

# model_fn waits for the test twice: to say it is running, and for leave to return.
GATED_CODE = """
import os

def model_fn(model_dir):
    with open(os.path.join(model_dir, "entered"), "w") as f:
        f.write("in")
    with open(os.path.join(model_dir, "gate")) as f:
        f.read()
    return lambda data: data
"""


class Replica:
    """A replica process, started as the hosting controller starts one; stdout and stderr read."""

    def __init__(self, *args: str, env: Mapping[str, str] | None = None) -> None:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("SAGEMAKER_")}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "kiln.runtime.model_server", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**environ, **(env or {})},
            start_new_session=True,
        )
        self.phases: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: list[str] = []
        self._stderr_grew = threading.Condition()
        self._readers = [
            threading.Thread(target=self._read_stdout, daemon=True),
            threading.Thread(target=self._read_stderr, daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    def _read_stdout(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith('{"kiln_phase"'):
                self.phases.put(orjson.loads(line))
        self.phases.put(None)

    def _read_stderr(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self._stderr_grew:
                self._stderr.append(line)
                self._stderr_grew.notify_all()

    @property
    def stderr(self) -> str:
        with self._stderr_grew:
            return "".join(self._stderr)

    def wait_phase(self, name: str, timeout: float = 60) -> dict[str, Any]:
        """The start phase line ``name``; fails if the process ends or ``timeout`` passes first."""
        while True:
            try:
                phase = self.phases.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no {name!r} phase in {timeout}s:\n{self.stderr}") from None
            if phase is None:
                raise AssertionError(f"replica ended before {name!r}:\n{self.stderr}")
            if phase["kiln_phase"] == name:
                return phase

    def wait_stderr(self, text: str, timeout: float = 10) -> None:
        """Return once ``text`` appeared on stderr."""
        with self._stderr_grew:
            found = self._stderr_grew.wait_for(lambda: text in "".join(self._stderr), timeout)
        assert found, f"{text!r} not on stderr in {timeout}s:\n{self.stderr}"

    def wait_exit(self, timeout: float = 60) -> int:
        """The exit code, once the process ended and its output was read."""
        code = self.process.wait(timeout)
        for reader in self._readers:
            reader.join(timeout)
        return code

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after a grace; always reaped and its pipes closed."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.wait_exit()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@dataclass
class Serving:
    """A listening replica and an HTTP client for it."""

    replica: Replica
    http: httpx.Client


@contextmanager
def serving(model_dir: Path, *args: str, env: Mapping[str, str] | None = None) -> Iterator[Serving]:
    """A replica listening on a free port, and a client for it."""
    port = free_port()
    replica = Replica("--model-dir", str(model_dir), "--port", str(port), *args, env=env)
    try:
        replica.wait_phase("listening")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            yield Serving(replica, client)
    finally:
        replica.stop()


def write(folder: Path, files: Mapping[str, str | bytes]) -> Path:
    """``folder`` holding ``files`` (relative name → content)."""
    for name, content in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content)
        else:
            path.write_bytes(content)
    return folder


@pytest.fixture(scope="module")
def sklearn_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model folder holding only a RandomForest's model.joblib."""
    return write(tmp_path_factory.mktemp("sklearn"), sklearn_model_files(n_estimators=10))


@pytest.fixture(scope="module")
def expected(sklearn_dir: Path) -> list[int]:
    """The in-process predictions for ROWS."""
    return [int(v) for v in joblib.load(sklearn_dir / "model.joblib").predict(ROWS)]


@pytest.fixture(scope="module")
def defaults(sklearn_dir: Path) -> Iterator[Serving]:
    """A replica serving the RandomForest with framework defaults only."""
    with serving(sklearn_dir) as served:
        yield served


@pytest.fixture(scope="module")
def custom(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serving]:
    """A replica running CUSTOM_CODE from <model-dir>/code/inference.py."""
    folder = write(
        tmp_path_factory.mktemp("custom"),
        {"factor.txt": "3", "code/inference.py": CUSTOM_CODE},
    )
    with serving(folder) as served:
        yield served


def npy(array: Any) -> bytes:
    """``array`` as .npy bytes."""
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array))
    return buffer.getvalue()


def test_ping_answers_200_with_an_empty_body(defaults: Serving) -> None:
    answer = defaults.http.get("/ping")
    assert (answer.status_code, answer.content) == (200, b"")


def test_defaults_answer_a_json_list_with_a_bare_list(
    defaults: Serving, expected: list[int]
) -> None:
    answer = defaults.http.post("/invocations", content=orjson.dumps(ROWS.tolist()))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == expected


def test_defaults_answer_inputs_with_predictions(defaults: Serving, expected: list[int]) -> None:
    body = orjson.dumps({"inputs": ROWS.tolist()})
    answer = defaults.http.post(
        "/invocations", content=body, headers={"content-type": "application/json"}
    )
    assert answer.json() == {"predictions": expected}


def test_defaults_read_and_write_csv(defaults: Serving, expected: list[int]) -> None:
    body = "\n".join(",".join(map(str, row)) for row in ROWS.tolist())
    answer = defaults.http.post(
        "/invocations", content=body, headers={"content-type": "text/csv", "accept": "text/csv"}
    )
    assert answer.headers["content-type"] == "text/csv"
    assert answer.text.split() == [str(v) for v in expected]


def test_defaults_read_and_write_npy(defaults: Serving, expected: list[int]) -> None:
    npy_type = "application/x-npy"
    answer = defaults.http.post(
        "/invocations", content=npy(ROWS), headers={"content-type": npy_type, "accept": npy_type}
    )
    assert answer.headers["content-type"] == npy_type
    assert np.load(io.BytesIO(answer.content)).tolist() == expected


def test_unsupported_content_type_is_415(defaults: Serving) -> None:
    answer = defaults.http.post("/invocations", content=b"x", headers={"content-type": "image/png"})
    assert answer.status_code == 415
    assert "image/png" in answer.text


def test_unsupported_accept_is_406(defaults: Serving) -> None:
    answer = defaults.http.post("/invocations", content=b"[[1]]", headers={"accept": "image/png"})
    assert answer.status_code == 406


def test_invalid_json_is_400(defaults: Serving) -> None:
    answer = defaults.http.post(
        "/invocations", content=b"[[1,", headers={"content-type": "application/json"}
    )
    assert answer.status_code == 400


def test_oversized_body_is_413_and_the_connection_serves_on(defaults: Serving) -> None:
    answer = defaults.http.post("/invocations", content=b"0" * (MAX_BODY_BYTES + 1))
    assert answer.status_code == 413
    assert defaults.http.get("/ping").status_code == 200


def test_oversized_chunked_body_is_413(defaults: Serving) -> None:
    chunks = (b"0" * 1024 * 1024 for _ in range(8))  # a generator: sent chunked, no length
    answer = defaults.http.post("/invocations", content=chunks)
    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [("GET", "/invocations", 405), ("POST", "/ping", 405), ("GET", "/models", 404)],
)
def test_other_methods_and_paths_are_refused(
    defaults: Serving, method: str, path: str, status: int
) -> None:
    assert defaults.http.request(method, path).status_code == status


def test_custom_handlers_run_as_a_chain(custom: Serving) -> None:
    answer = custom.http.post("/invocations", json={"x": [1, 2]})
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/vnd.kiln+json"
    assert answer.json() == {"y": [3.0, 6.0]}


def test_custom_attributes_reach_the_context_and_come_back(custom: Serving) -> None:
    header = "X-Amzn-SageMaker-Custom-Attributes"
    answer = custom.http.post("/invocations", json={"x": [1]}, headers={header: "trace=1"})
    assert answer.headers[header] == "seen=trace=1"


def test_user_exception_is_500_with_its_message_and_no_traceback(custom: Serving) -> None:
    answer = custom.http.post("/invocations", json={"fail": True})
    assert (answer.status_code, answer.text) == (500, "RuntimeError: model exploded")
    custom.replica.wait_stderr("Traceback")
    assert custom.http.post("/invocations", json={"x": [1]}).status_code == 200


def test_inference_error_answers_with_its_status(custom: Serving) -> None:
    answer = custom.http.post("/invocations", json={"reject": True})
    assert (answer.status_code, answer.text) == (422, "x must not be empty")


@pytest.mark.slow
def test_transform_fn_serves_from_a_named_entry_point_in_a_code_dir(tmp_path: Path) -> None:
    code = write(tmp_path / "src", {"serve.py": TRANSFORM_CODE})
    model_dir = write(tmp_path / "model", {"README": "no model file: model_fn makes one"})
    with serving(model_dir, "--code-dir", str(code), "--entry-point", "serve.py") as served:
        answer = served.http.post(
            "/invocations", content=b"hello", headers={"accept": "text/plain"}
        )
    assert (answer.text, answer.headers["content-type"]) == ("HELLO", "text/plain")


@pytest.mark.slow
def test_entry_point_comes_from_sagemaker_program(tmp_path: Path) -> None:
    model_dir = write(tmp_path, {"code/serve.py": TRANSFORM_CODE})
    with serving(model_dir, env={"SAGEMAKER_PROGRAM": "serve.py"}) as served:
        assert served.http.post("/invocations", content=b"ok").text == "OK"


@pytest.mark.slow
def test_phases_print_in_order_and_listening_reports_the_port(sklearn_dir: Path) -> None:
    port = free_port()
    replica = Replica("--model-dir", str(sklearn_dir), "--port", str(port))
    try:
        names = [replica.wait_phase(name)["kiln_phase"] for name in ("import", "load")]
        listening = replica.wait_phase("listening")
    finally:
        replica.stop()
    assert names == ["import", "load"]
    assert listening["port"] == port
    assert listening["seconds"] >= 0


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_ping_is_refused_until_model_fn_returns(tmp_path: Path) -> None:
    model_dir = write(tmp_path, {"code/inference.py": GATED_CODE})
    os.mkfifo(model_dir / "entered")
    os.mkfifo(model_dir / "gate")
    port = free_port()
    replica = Replica("--model-dir", str(model_dir), "--port", str(port))
    try:
        (model_dir / "entered").read_text()  # returns once model_fn runs
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for _ in range(5):
                with pytest.raises(httpx.ConnectError):
                    client.get("/ping")
            (model_dir / "gate").write_text("go")
            replica.wait_phase("load")
            replica.wait_phase("listening")
            assert client.get("/ping").status_code == 200
    finally:
        replica.stop()


@pytest.mark.slow
def test_unix_socket_serves_and_is_removed_on_sigterm(sklearn_dir: Path, tmp_path: Path) -> None:
    path = tmp_path / "replica.sock"
    replica = Replica("--model-dir", str(sklearn_dir), "--uds", str(path))
    try:
        assert replica.wait_phase("listening")["uds"] == str(path)
        transport = httpx.HTTPTransport(uds=str(path))
        with httpx.Client(transport=transport, base_url="http://replica") as client:
            assert client.get("/ping").status_code == 200
            answer = client.post("/invocations", json={"instances": ROWS[:1].tolist()})
        assert len(answer.json()["predictions"]) == 1
    finally:
        replica.stop()
    assert not path.exists()


@pytest.mark.slow
def test_sigterm_shuts_down_gracefully_and_ends_by_the_signal(sklearn_dir: Path) -> None:
    with serving(sklearn_dir) as served:
        served.replica.process.send_signal(signal.SIGTERM)
        assert served.replica.wait_exit(timeout=30) == -signal.SIGTERM
    assert "Finished server process" in served.replica.stderr


@pytest.mark.slow
@pytest.mark.parametrize(
    ("code", "error"),
    [
        ("import not_a_module_anywhere\n", "ModuleNotFoundError: No module named"),
        ("def model_fn(model_dir):\n    raise OSError('disk gone')\n", "OSError: disk gone"),
        (
            "def transform_fn(m, d, c, a): pass\ndef predict_fn(d, m): pass\n",
            "ValueError:",
        ),
    ],
    ids=["import", "model_fn", "transform_and_predict"],
)
def test_start_failure_exits_2_with_a_summary_line(tmp_path: Path, code: str, error: str) -> None:
    model_dir = write(tmp_path, {"code/inference.py": code})
    replica = Replica("--model-dir", str(model_dir), "--port", str(free_port()))
    try:
        assert replica.wait_exit() == 2
    finally:
        replica.stop()
    last = replica.stderr.strip().splitlines()[-1]
    assert last.startswith(f"kiln-replica: failed: {error}")
    assert "Traceback" in replica.stderr


@pytest.mark.slow
def test_model_dir_without_a_known_model_file_exits_2_naming_its_files(tmp_path: Path) -> None:
    model_dir = write(tmp_path, {"weights.bin": b"\0"})
    replica = Replica("--model-dir", str(model_dir), "--port", str(free_port()))
    try:
        assert replica.wait_exit() == 2
    finally:
        replica.stop()
    assert "kiln-replica: failed: ModelNotFoundError: " in replica.stderr
    assert "found: weights.bin" in replica.stderr


@pytest.mark.slow
def test_port_in_use_exits_3(sklearn_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        replica = Replica("--model-dir", str(sklearn_dir), "--port", str(port))
        try:
            assert replica.wait_exit() == 3
        finally:
            replica.stop()
    assert "kiln-replica: failed: OSError" in replica.stderr


def test_prepare_model_dir_extracts_a_tarball(tmp_path: Path) -> None:
    archive = tmp_path / "model.tar.gz"
    archive.write_bytes(source_tarball({"model.joblib": b"x", "code/inference.py": ""}))
    model_dir = prepare_model_dir(str(archive), tmp_path / "work")
    assert model_dir.parent == tmp_path / "work"
    assert sorted(p.name for p in model_dir.rglob("*")) == ["code", "inference.py", "model.joblib"]


def test_prepare_model_dir_takes_a_folder_as_it_is(tmp_path: Path) -> None:
    assert prepare_model_dir(str(tmp_path), tmp_path / "work") == tmp_path.resolve()
    assert not (tmp_path / "work").exists()


def test_prepare_model_dir_leaves_s3_uris_to_the_caller(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="fetch s3://b/model.tar.gz first"):
        prepare_model_dir("s3://b/model.tar.gz", tmp_path)


def call_app(
    app: ReplicaApp,
    messages: list[dict[str, Any]],
    headers: list[tuple[bytes, bytes]] | None = None,
) -> list[dict[str, Any]]:
    """Run one POST /invocations through ``app`` in-process; the messages it sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0)

    async def send(message: Any) -> None:
        sent.append(dict(message))

    scope = {"type": "http", "path": "/invocations", "method": "POST", "headers": headers or []}
    asyncio.run(app(scope, receive, send))
    return sent


def test_inference_id_reaches_the_handlers_and_comes_back() -> None:
    seen: list[Any] = []

    async def dispatch(*args: Any) -> Reply:
        seen.append(args[4])
        return Reply(b"{}", "application/json", None)

    sent = call_app(
        ReplicaApp(dispatch),
        [{"type": "http.request", "body": b"[1]"}],
        [(b"x-amzn-sagemaker-inference-id", b"inf-42")],
    )
    assert seen == ["inf-42"]
    assert (b"x-amzn-sagemaker-inference-id", b"inf-42") in sent[0]["headers"]


def test_handler_chosen_header_values_that_would_inject_are_a_500() -> None:
    async def dispatch(*args: Any) -> Reply:
        return Reply(b"{}", "application/json", "ok\r\nSet-Cookie: x=1")

    sent = call_app(ReplicaApp(dispatch), [{"type": "http.request", "body": b"[1]"}])
    assert sent[0]["status"] == 500
    assert sent[1]["body"].startswith(b"ValueError: not a valid HTTP header value")


def test_client_gone_before_its_body_gets_no_answer() -> None:
    async def dispatch(*args: Any) -> Reply:
        raise AssertionError("nothing to dispatch")

    sent = call_app(ReplicaApp(dispatch), [{"type": "http.disconnect"}])
    assert sent == []
