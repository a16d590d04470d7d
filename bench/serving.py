"""Serving: requests/s, p50/p99 latency and server CPU per request, Kiln beside the raw floor.

The serving workload v1 of BENCHMARKING.md (shared folder): the breast-cancer RandomForest
(``n_estimators=50, max_depth=8, random_state=0``, joblib), ``POST {"inputs": [[30 floats], …]}``
with 1 row or 64 rows, answered ``{"predictions": […]}``. Three systems, measured in one run:

- kiln:   ``kiln server`` (its own process) → router → replica over a unix socket; the endpoint
          deployed with boto3 (CreateModel, CreateEndpointConfig, CreateEndpoint);
- direct: the same replica, ``python -m kiln.runtime.model_server --port P``, called directly;
- raw:    the reference, a bare ASGI callable on uvicorn + uvloop + httptools (``raw_asgi.py``).

Each server's whole process tree is pinned to CPU 1 (``taskset -c 1``), h2load and this script to
CPU 0. h2load runs closed loop over HTTP/1.1 keep-alive (``--h1 -t1 -c C -m1``) at concurrency 1,
8 and 64, with a warm-up on the same connections; p50/p99 come from its per-request log, server
CPU from the process tree's utime + stime over the measured window. Every repetition starts each
system afresh (timing launch or CreateEndpoint → first correct prediction), then runs every cell
with the systems interleaved (the order rotates), so each ratio is taken within one repetition.
Predictions are checked against in-process ones before and after every load run. Only loopback
is used. Run: ``.venv/bin/python bench/serving.py [--repeat N] [--duration S] [--quick]``.
Results also go to ``bench/results/serving.json``.

The default run's Kiln and direct replica serve with ``KILN_BATCHING=off`` (one request at a
time, as the raw floor). ``--lean`` measures issue 9's targets instead (``lean.py``: c=1
unbatched and c=64 batched ÷ raw, router CPU per request, PSS, the idle request's batching cost).

``--metrics`` measures what invocation counting costs instead: two Kiln servers, one with
``KILN_INVOCATION_METRICS=0`` (which now only stops publishing: the one counter still counts for
the autoscaler, so the pair shows publishing's cost), the same endpoint on each, the same 1-row
load at c=1, 8, 64 interleaved; it prints req/s with counting ÷ without, per repetition's pair. On
two shared cores one pair's ratio swings ±20 %, far more than the 2 % to be shown, so the verdict
is taken on what is steady: counting's CPU per invocation (made record + the store's count, timed
in-process) as a share of Kiln's whole CPU per request measured in the same run without counting
(target ≤ 2 %: where the cores are the bottleneck, throughput falls by that share).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import os
import shutil
import statistics
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import auth_cost
import boto3
import joblib
import numpy as np
import orjson
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from common import per_call_seconds, run_header, server_environment, sigterm_as_exit
from loadgen import (
    CLIENT_CPU,
    SERVER_CPU,
    Launched,
    Timing,
    free_port,
    launch,
    placement,
    process_tree,
    run_h2load,
    stop,
)
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import RandomForestClassifier

from kiln.config import Settings
from kiln.sdk.signing import call_native

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "serving.json"
PYTHON = sys.executable
ROLE = "arn:aws:iam::000000000000:role/kiln"
SYSTEMS = ("kiln", "direct", "raw")
CONCURRENCY = (1, 8, 64)
ROWS = (1, 64)
TARGET_OVERHEAD_MS = 1.0
TARGET_THROUGHPUT_RATIO = 0.8
TARGET_COLD_START_S = 2.0
TARGET_METRICS_SHARE = 0.02  # counting's CPU ÷ a request's CPU
START_TIMEOUT_S = 60.0
POLL_S = 0.005
# The default run's cells measure serving one request at a time, as they always have; --lean
# measures batching beside it.
UNBATCHED = {"KILN_BATCHING": "off"}


# -- the workload ---------------------------------------------------------------------------------


@dataclass
class Workload:
    """The model, its files, the two request bodies and the predictions they must get."""

    model: Any
    joblib_path: Path
    tarball: bytes
    bodies: dict[int, Path]
    expected: dict[int, list[int]]


def build_workload(folder: Path) -> Workload:
    """Fit the v1 model on all 569 rows; write model.joblib, model.tar.gz and the bodies."""
    x, y = load_breast_cancer(return_X_y=True)
    model = RandomForestClassifier(n_estimators=50, max_depth=8, random_state=0).fit(x, y)
    model_dir = folder / "model"
    model_dir.mkdir()
    joblib_path = model_dir / "model.joblib"
    joblib.dump(model, joblib_path)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(joblib_path, arcname="model.joblib")
    bodies, expected = {}, {}
    for rows in ROWS:
        bodies[rows] = folder / f"body-{rows}.json"
        bodies[rows].write_bytes(orjson.dumps({"inputs": x[:rows].tolist()}))
        expected[rows] = [int(p) for p in model.predict(x[:rows])]
    return Workload(model, joblib_path, buffer.getvalue(), bodies, expected)


def measure_in_process(workload: Workload, calls: int) -> dict[str, Any]:
    """Reference (1), on the server CPU: ``predict``, the bare handler, Kiln's handler chain."""
    from kiln.runtime.handlers import load_predictor, resolve_handlers

    predictor = load_predictor(resolve_handlers(None), workload.joblib_path.parent)
    model = workload.model
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {SERVER_CPU})
    try:
        found: dict[str, Any] = {}
        for rows, path in workload.bodies.items():
            body = path.read_bytes()
            array = np.array(orjson.loads(body)["inputs"])

            def bare(body: bytes = body) -> bytes:
                rows = np.array(orjson.loads(body)["inputs"])
                answer = {"predictions": model.predict(rows)}
                return orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY)

            def chain(body: bytes = body) -> bytes:
                return predictor.invoke(body, "application/json", None, None).body

            if orjson.loads(chain())["predictions"] != workload.expected[rows]:
                raise RuntimeError(f"Kiln's handler chain mispredicts the {rows}-row body")
            found[f"{rows}_rows"] = {
                "predict_ms": per_call_seconds(lambda array=array: model.predict(array), calls)
                * 1e3,
                "bare_handler_ms": per_call_seconds(bare, calls) * 1e3,
                "kiln_handler_ms": per_call_seconds(chain, calls) * 1e3,
            }
        return found
    finally:
        os.sched_setaffinity(0, previous)


def measure_auth_on_server_cpu() -> dict[str, float]:
    """The auth gate's per-request cost (``bench/auth_cost.py``), on the server CPU."""
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {SERVER_CPU})
    try:
        return auth_cost.measure()
    finally:
        os.sched_setaffinity(0, previous)


# -- talking to a server --------------------------------------------------------------------------


def post(
    port: int, path: str, body: bytes, timeout: float = 10.0, headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """One ``POST`` on a fresh loopback connection: status and body."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request(
            "POST", path, body, {"Content-Type": "application/json", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def check_predictions(target: Target, workload: Workload, when: str) -> None:
    """RuntimeError unless both bodies get the in-process predictions."""
    for rows, path in workload.bodies.items():
        status, answer = post(target.port, target.path, path.read_bytes(), headers=target.headers)
        got = orjson.loads(answer).get("predictions") if status == 200 else None
        if got != workload.expected[rows]:
            raise RuntimeError(
                f"{target.name} {when}: {rows}-row body got {status} {answer[:200]!r}, "
                f"expected predictions {workload.expected[rows][:8]}…"
            )


def first_correct_prediction(
    target: Target, body: bytes, expected: list[int], launched: Launched | None
) -> float:
    """Poll with ``body`` until the predictions are right; the ``perf_counter`` time then."""
    deadline = time.perf_counter() + START_TIMEOUT_S
    while time.perf_counter() < deadline:
        if launched is not None:
            launched.check_alive()
        try:
            status, answer = post(target.port, target.path, body, 5.0, target.headers)
        except OSError:
            status, answer = 0, b""
        if status == 200 and orjson.loads(answer).get("predictions") == expected:
            return time.perf_counter()
        time.sleep(POLL_S)
    raise TimeoutError(f"{target.name} gave no correct prediction within {START_TIMEOUT_S:.0f} s")


@dataclass
class Target:
    """One system under test: where to send requests and the root of its process tree."""

    name: str
    port: int
    path: str
    root_pid: int
    cold_start_s: float
    detail: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)  # Kiln's: a bearer API key


# -- the direct replica and the raw reference -----------------------------------------------------


def start_direct(workload: Workload, workdir: Path, stack: ExitStack) -> Target:
    """Kiln's replica on a TCP port, without batching: launch → first correct prediction."""
    port = free_port()
    argv = [PYTHON, "-m", "kiln.runtime.model_server"]
    argv += ["--model-dir", str(workload.joblib_path.parent), "--port", str(port)]
    return _start_plain("direct", argv, port, workload, workdir, stack, UNBATCHED)


def start_raw(workload: Workload, workdir: Path, stack: ExitStack) -> Target:
    """The bare ASGI reference: launch → first correct prediction."""
    port = free_port()
    argv = [PYTHON, str(HERE / "raw_asgi.py"), "--model", str(workload.joblib_path)]
    argv += ["--port", str(port)]
    return _start_plain("raw", argv, port, workload, workdir, stack)


def _start_plain(
    name: str,
    argv: list[str],
    port: int,
    workload: Workload,
    workdir: Path,
    stack: ExitStack,
    env: dict[str, str] | None = None,
) -> Target:
    log = workdir / f"{name}-{uuid.uuid4().hex[:6]}.log"
    launched = launch(name, argv, log, {**os.environ, **env} if env else None)
    stack.callback(stop, launched)
    target = Target(name, port, "/invocations", launched.process.pid, 0.0)
    rows = ROWS[0]
    body = workload.bodies[rows].read_bytes()
    ready = first_correct_prediction(target, body, workload.expected[rows], launched)
    target.cold_start_s = ready - launched.started
    phases = [json.loads(line) for line in log.read_text().splitlines() if '"kiln_phase"' in line]
    target.detail["phases"] = {p["kiln_phase"]: p.get("seconds") for p in phases}
    return target


# -- Kiln: the server, the model in its store, endpoints ------------------------------------------


@dataclass
class Kiln:
    """A ``kiln server`` process and boto3 clients pointed at it."""

    launched: Launched
    settings: Settings
    sagemaker: Any
    runtime: Any
    model_uri: str
    api_key: str


def _client(settings: Settings, service: str, endpoint: str) -> Any:
    creds = settings.credentials
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=settings.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        # One attempt each: a retry's back-off would hide inside the cold-start figure.
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


def start_kiln(
    workload: Workload, workdir: Path, stack: ExitStack, home_name: str = "kiln-home", **env_: str
) -> Kiln:
    """``python -m kiln.cli server`` pinned, in a fresh KILN_HOME; the model uploaded to it."""
    home = workdir / home_name
    env = server_environment(
        home,
        KILN_STOP_GRACE_SECONDS="3",
        KILN_CAPACITY_VCPUS="64",
        KILN_CAPACITY_MEMORY_MIB="65536",
        **env_,
    )
    settings = Settings.from_env(env)  # writes the key pair the server will read
    launched = launch(
        "kiln server", [PYTHON, "-m", "kiln.cli", "server"], workdir / f"{home_name}.log", env
    )
    stack.callback(stop, launched)
    _wait_for_ping(launched, settings.port)
    s3 = _client(settings, "s3", settings.s3_endpoint_url)
    s3.create_bucket(Bucket="models")
    key = f"{uuid.uuid4().hex}/model.tar.gz"
    s3.put_object(Bucket="models", Key=key, Body=workload.tarball)
    # h2load cannot sign SigV4: it sends a bearer API key, as load generators do.
    bearer = {"User": "bench", "Policy": "admin", "Kind": "bearer"}
    api_key = call_native(settings, "POST", "/kiln/v1/keys", bearer)["ApiKey"]
    return Kiln(
        launched,
        settings,
        _client(settings, "sagemaker", settings.endpoint),
        _client(settings, "sagemaker-runtime", settings.endpoint),
        f"s3://models/{key}",
        api_key,
    )


def _wait_for_ping(launched: Launched, port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        launched.check_alive()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2.0)
        try:
            connection.request("GET", "/ping")
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.05)
    raise TimeoutError(f"kiln server did not answer /ping within {START_TIMEOUT_S:.0f} s")


def deploy(
    kiln: Kiln, workload: Workload, name: str, environment: dict[str, str] | None = None
) -> Target:
    """CreateModel and CreateEndpointConfig, then time CreateEndpoint → first correct prediction."""
    sm = kiln.sagemaker
    container: dict[str, Any] = {"Image": "kiln/python", "ModelDataUrl": kiln.model_uri}
    if environment:
        container["Environment"] = environment
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    variant = {
        "VariantName": "main",
        "ModelName": name,
        "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large",
        "InitialVariantWeight": 1.0,
    }
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    rows = ROWS[0]
    body = workload.bodies[rows].read_bytes()
    started = time.perf_counter()
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    ready = _first_invoke(kiln, name, body, workload.expected[rows])
    target = Target("kiln", kiln.settings.port, f"/endpoints/{name}/invocations", 0, 0.0)
    target.headers = {"Authorization": f"Bearer {kiln.api_key}"}
    target.root_pid = kiln.launched.process.pid
    target.cold_start_s = ready - started
    replicas = call_native(kiln.settings, "GET", f"/kiln/v1/endpoints/{name}/replicas")
    target.detail["phases"] = [r["Phases"] for r in replicas["Replicas"]]
    return target


def _first_invoke(kiln: Kiln, name: str, body: bytes, expected: list[int]) -> float:
    """Poll InvokeEndpoint (boto3) until the predictions are right; the time then."""
    deadline = time.perf_counter() + START_TIMEOUT_S
    while time.perf_counter() < deadline:
        kiln.launched.check_alive()
        try:
            answer = kiln.runtime.invoke_endpoint(
                EndpointName=name, Body=body, ContentType="application/json"
            )
            if orjson.loads(answer["Body"].read()).get("predictions") == expected:
                return time.perf_counter()
        except ClientError:
            pass  # not routed yet: ValidationError (unknown endpoint) or 503
        time.sleep(POLL_S)
    raise TimeoutError(f"endpoint {name} gave no correct prediction in {START_TIMEOUT_S:.0f} s")


def undeploy(kiln: Kiln, name: str) -> None:
    """Delete the endpoint, its config and model; wait until the endpoint is gone."""
    sm = kiln.sagemaker
    try:
        sm.delete_endpoint(EndpointName=name)
    except (ClientError, BotoCoreError) as e:
        # Never created, or the server is gone: stopping the server stops its replicas.
        print(f"note: endpoint {name} not deleted: {e}")
        return
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            sm.describe_endpoint(EndpointName=name)
        except ClientError:
            break
        time.sleep(0.05)
    else:
        raise TimeoutError(f"endpoint {name} was not deleted within {START_TIMEOUT_S:.0f} s")
    sm.delete_endpoint_config(EndpointConfigName=name)
    sm.delete_model(ModelName=name)


# -- one repetition -------------------------------------------------------------------------------


def _rotated(items: Sequence[str], by: int) -> list[str]:
    by %= len(items)
    return [*items[by:], *items[:by]]


def start_systems(
    kiln: Kiln, workload: Workload, workdir: Path, stack: ExitStack, rep: int
) -> dict[str, Target]:
    """Each system started afresh (order rotating), timed to its first correct prediction."""
    targets: dict[str, Target] = {}
    for name in _rotated(SYSTEMS, rep):
        if name == "kiln":
            endpoint = f"bench-{rep}-{uuid.uuid4().hex[:6]}"
            stack.callback(undeploy, kiln, endpoint)
            targets[name] = deploy(kiln, workload, endpoint, UNBATCHED)
        elif name == "direct":
            targets[name] = start_direct(workload, workdir, stack)
        else:
            targets[name] = start_raw(workload, workdir, stack)
    return targets


def run_repetition(
    kiln: Kiln, workload: Workload, workdir: Path, timing: Timing, rep: int
) -> dict[str, Any]:
    """Start the systems, then every (rows, concurrency) cell with the systems interleaved."""
    with ExitStack() as stack:
        targets = start_systems(kiln, workload, workdir, stack, rep)
        cold = {name: t.cold_start_s for name, t in targets.items()}
        print(f"rep {rep + 1}: cold start " + ", ".join(f"{n} {cold[n]:.2f} s" for n in SYSTEMS))
        cells: dict[str, dict[str, Any]] = {}
        cases = [(rows, concurrency) for rows in ROWS for concurrency in CONCURRENCY]
        for step, (rows, concurrency) in enumerate(cases):
            cell = cells[f"{rows}x{concurrency}"] = {}
            for name in _rotated(SYSTEMS, rep + step):
                cell[name] = measure(targets[name], workload, rows, concurrency, timing, workdir)
            print(f"  {rows:>2} rows c={concurrency:<2} {_cell_line(cell)}", flush=True)
        trees = {name: placement(process_tree(t.root_pid)) for name, t in targets.items()}
        details = {name: t.detail for name, t in targets.items()}
        return {"cold_start_s": cold, "cells": cells, "placement": trees, "start_detail": details}


def measure(
    target: Target, workload: Workload, rows: int, concurrency: int, timing: Timing, workdir: Path
) -> dict[str, Any]:
    """One h2load run, with the predictions checked before and after it."""
    check_predictions(target, workload, "before load")
    url = f"http://127.0.0.1:{target.port}{target.path}"
    body = workload.bodies[rows]
    headers = [f"{name}: {value}" for name, value in target.headers.items()]
    cell = run_h2load(url, body, concurrency, timing, target.root_pid, workdir, headers)
    check_predictions(target, workload, "after load")
    return cell


def _cell_line(cell: dict[str, Any]) -> str:
    return "  ".join(
        f"{name} {cell[name]['req_s']:6.0f}/s p50 {cell[name]['p50_ms']:6.2f} ms"
        + (f" ({cell[name]['errors']} errors)" if cell[name]["errors"] else "")
        for name in SYSTEMS
    )


# -- summary and report ---------------------------------------------------------------------------


def _stats(values: Sequence[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(reps: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians and min–max per system and cell; ratios to raw taken within each repetition."""
    metrics = ("req_s", "p50_ms", "p99_ms", "cpu_ms_per_request")
    cells: dict[str, Any] = {}
    for key in reps[0]["cells"]:
        per_system: dict[str, Any] = {}
        for name in SYSTEMS:
            runs = [r["cells"][key][name] for r in reps]
            raws = [r["cells"][key]["raw"] for r in reps]
            row = {m: _stats([run[m] for run in runs]) for m in metrics}
            row["ratio"] = {
                m: _stats([run[m] / raw[m] for run, raw in zip(runs, raws, strict=True)])
                for m in metrics
            }
            row["max_ms"] = _stats([run["max_ms"] for run in runs])
            row["errors"] = sum(run["errors"] for run in runs)
            row["warm_up_stragglers"] = sum(run["warm_up_stragglers"] for run in runs)
            row["warm_up_straggler_max_ms"] = max(run["warm_up_straggler_max_ms"] for run in runs)
            per_system[name] = row
        cells[key] = per_system
    overhead = {
        f"{rows}_rows": _stats(
            [
                r["cells"][f"{rows}x1"]["kiln"]["p50_ms"]
                - r["cells"][f"{rows}x1"]["direct"]["p50_ms"]
                for r in reps
            ]
        )
        for rows in ROWS
    }
    top = CONCURRENCY[-1]
    throughput = {
        f"{rows}_rows": {
            name: cells[f"{rows}x{top}"][name]["ratio"]["req_s"] for name in ("kiln", "direct")
        }
        for rows in ROWS
    }
    cold = {name: _stats([r["cold_start_s"][name] for r in reps]) for name in SYSTEMS}
    split = {}
    for key in reps[0]["cells"]:
        runs = [r["cells"][key]["kiln"] for r in reps]
        router = [run["cpu_ms_per_request_by_process"]["server"] for run in runs]
        rest = [run["cpu_ms_per_request"] - ms for run, ms in zip(runs, router, strict=True)]
        split[key] = {"router": _stats(router), "replica": _stats(rest)}
    return {
        "cells": cells,
        "kiln_cpu_ms_per_request_router_replica": split,
        "router_overhead_p50_c1_ms": overhead,
        "throughput_ratio_c64": throughput,
        "cold_start_s": cold,
    }


def _fmt(stats: dict[str, float], unit: str = "", digits: int = 2) -> str:
    return (
        f"{stats['median']:.{digits}f}{unit} ({stats['min']:.{digits}f}–{stats['max']:.{digits}f})"
    )


def verdict(summary: dict[str, Any]) -> tuple[bool, str]:
    """Whether every target holds, and the line that says so."""
    overhead = max(s["median"] for s in summary["router_overhead_p50_c1_ms"].values())
    ratio = min(s["kiln"]["median"] for s in summary["throughput_ratio_c64"].values())
    cold = summary["cold_start_s"]["kiln"]["median"]
    checks = (
        (overhead < TARGET_OVERHEAD_MS, f"router overhead p50 c=1 {overhead:.2f} ms", "<",
         f"{TARGET_OVERHEAD_MS:g} ms"),
        (ratio >= TARGET_THROUGHPUT_RATIO, f"throughput c=64 {ratio:.2f}× raw", ">=",
         f"{TARGET_THROUGHPUT_RATIO:g}"),
        (cold < TARGET_COLD_START_S, f"CreateEndpoint → first prediction {cold:.2f} s", "<",
         f"{TARGET_COLD_START_S:g} s"),
    )  # fmt: skip
    ok = all(passed for passed, *_ in checks)
    parts = [
        f"{what} {op if passed else ('>=' if op == '<' else '<')} {limit}"
        for passed, what, op, limit in checks
    ]
    return ok, f"VERDICT: {', '.join(parts)}: {'PASS' if ok else 'FAIL'}"


def print_report(
    summary: dict[str, Any], in_process: dict[str, Any], args: argparse.Namespace
) -> bool:
    """The tables, the headline figures and the verdict line; whether every target holds."""
    print(
        f"\nServing, median (min–max) of {args.repeat} repetitions, {args.duration:g} s each "
        f"after {args.warm_up:g} s warm-up; server tree on CPU {SERVER_CPU}, h2load on CPU "
        f"{CLIENT_CPU}; ratio = ÷ raw in the same repetition"
    )
    print("\nIn process, on the server CPU (ms per call, median):")
    for rows_key, row in in_process.items():
        if rows_key == "auth_us":
            continue
        print(
            f"  {_rows(rows_key)} predict {row['predict_ms']:.3f}, bare handler "
            f"{row['bare_handler_ms']:.3f}, Kiln handler chain {row['kiln_handler_ms']:.3f}"
        )
    for key, cell in summary["cells"].items():
        _print_cell(key, cell)
    _print_headlines(summary)
    auth_ok, auth_line = auth_cost.report(in_process["auth_us"])
    print(auth_line)
    ok, line = verdict(summary)
    print(f"\n{line}")
    return ok and auth_ok


def _rows(key: str) -> str:
    """``"64_rows"`` or ``"64x8"`` → ``"64 rows"``, ``"1 row "``."""
    rows = key.replace("_", "x").split("x")[0]
    return f"{rows:>2} row{'s' if rows != '1' else ' '}"


def _print_cell(key: str, cell: dict[str, Any]) -> None:
    print(f"\n{_rows(key).strip()}, c={key.split('x')[1]}")
    print(f"{'system':<7} {'req/s':<18} {'÷ raw':<18} {'p50 ms':<22} {'p99 ms':<24} CPU ms/req")
    for name in SYSTEMS:
        row = cell[name]
        errors = f"  {row['errors']} ERRORS" if row["errors"] else ""
        print(
            f"{name:<7} {_fmt(row['req_s'], digits=0):<18} {_fmt(row['ratio']['req_s']):<18} "
            f"{_fmt(row['p50_ms']):<22} {_fmt(row['p99_ms']):<24} "
            f"{_fmt(row['cpu_ms_per_request'])}{errors}"
        )


def _print_headlines(summary: dict[str, Any]) -> None:
    print("\nRouter overhead, p50 at c=1 (Kiln router − direct replica):")
    for rows_key, stats in summary["router_overhead_p50_c1_ms"].items():
        print(f"  {_rows(rows_key)} {_fmt(stats, ' ms')}")
    print("Throughput at c=64, ÷ raw:")
    for rows_key, ratios in summary["throughput_ratio_c64"].items():
        print(f"  {_rows(rows_key)} kiln {_fmt(ratios['kiln'])}, direct {_fmt(ratios['direct'])}")
    # The rest of Kiln's tree: the replica, its bwrap, the idle embedded S3 store.
    print("Kiln's CPU per request, router (the kiln server process) + the rest (replica):")
    for key, roles in summary["kiln_cpu_ms_per_request_router_replica"].items():
        print(
            f"  {_rows(key)} c={key.split('x')[1]:<2} router {_fmt(roles['router'], ' ms')}, "
            f"replica {_fmt(roles['replica'], ' ms')}"
        )
    print("Cold start → first correct prediction:")
    launch_what = {"kiln": "CreateEndpoint (boto3)", "direct": "launch", "raw": "launch"}
    for name in SYSTEMS:
        print(f"  {name:<7} {launch_what[name]:<23} {_fmt(summary['cold_start_s'][name], ' s')}")
    stragglers = [
        f"{name} {_rows(key).strip()} c={key.split('x')[1]}: {row['warm_up_stragglers']} "
        f"(slowest {row['warm_up_straggler_max_ms']:.0f} ms)"
        for key, cell in summary["cells"].items()
        for name, row in cell.items()
        if row["warm_up_straggler_max_ms"] > 1000
    ]
    if stragglers:
        print("Requests sent during warm-up that took over 1 s (not in p50/p99):")
        print("  " + "; ".join(stragglers))


def write_results(
    summary: dict[str, Any],
    in_process: dict[str, Any],
    reps: list[dict[str, Any]],
    args: argparse.Namespace,
    ok: bool,
) -> None:
    """Everything measured, as JSON beside the benchmark."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {
        **run_header("serving"),
        "settings": {
            "repeat": args.repeat,
            "duration_s": args.duration,
            "warm_up_s": args.warm_up,
            "quick": args.quick,
            "server_cpu": SERVER_CPU,
            "client_cpu": CLIENT_CPU,
        },
        "targets": {
            "router_overhead_p50_c1_ms": TARGET_OVERHEAD_MS,
            "throughput_ratio_c64": TARGET_THROUGHPUT_RATIO,
            "cold_start_s": TARGET_COLD_START_S,
        },
        "pass": ok,
        "in_process_ms": in_process,
        "summary": summary,
        "repetitions": reps,
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {RESULTS}")


# -- what invocation counting costs ---------------------------------------------------------------


def measure_metrics_cost(workload: Workload, workdir: Path, timing: Timing, repeat: int) -> bool:
    """Counting's CPU share of a request, and req/s on ÷ off (interleaved); whether share ≤ 2 %."""
    ratios: dict[int, list[float]] = {}
    cpu_ms: list[float] = []
    with ExitStack() as stack:
        servers = {
            "on": start_kiln(workload, workdir, stack, "home-on"),
            "off": start_kiln(workload, workdir, stack, "home-off", KILN_INVOCATION_METRICS="0"),
        }
        targets = {}
        for label, kiln in servers.items():
            stack.callback(undeploy, kiln, f"metrics-{label}")
            targets[label] = deploy(kiln, workload, f"metrics-{label}")
        for rep in range(repeat):
            for step, concurrency in enumerate(CONCURRENCY):
                cell = {
                    label: measure(targets[label], workload, 1, concurrency, timing, workdir)
                    for label in _rotated(("on", "off"), rep + step)
                }
                ratio = cell["on"]["req_s"] / cell["off"]["req_s"]
                ratios.setdefault(concurrency, []).append(ratio)
                cpu_ms.append(cell["off"]["cpu_ms_per_request"])
                on, off = cell["on"]["req_s"], cell["off"]["req_s"]
                line = f"on {on:6.0f}/s, off {off:6.0f}/s, ratio {ratio:.3f}"
                print(f"  rep {rep + 1} c={concurrency:<2} counting {line}", flush=True)
    print(f"Invocation counting, req/s on ÷ off, 1 row, median (min–max) of {repeat}:")
    for concurrency, values in ratios.items():
        print(f"  c={concurrency:<2} {_fmt(_stats(values), digits=3)}")
    counting_us = counting_cost_us()
    request_us = 1000 * statistics.median(cpu_ms)
    share = counting_us / request_us
    print(f"Counting one invocation in-process: {counting_us:.1f} µs (record + observe)")
    print(f"Kiln's CPU per request without counting (router + replica): {request_us:.0f} µs")
    ok = share <= TARGET_METRICS_SHARE
    print(
        f"{'PASS' if ok else 'FAIL'}: counting is {share:.2%} of a request's CPU "
        f"(target <= {TARGET_METRICS_SHARE:.0%})"
    )
    return ok


def counting_cost_us() -> float:
    """What making an invocation's record and the store's count of it cost, on this CPU."""
    from kiln.db import connect
    from kiln.db.metrics import MetricRows
    from kiln.services.hosting.invocations import InvocationRecord, Outcome
    from kiln.services.monitoring.metrics import MetricsStore

    store = MetricsStore(MetricRows(connect("sqlite://")), retention_seconds=3600)

    def count_one() -> None:
        store.observe(
            InvocationRecord(
                "ep",
                "main",
                False,
                "r-1",
                "e-1",
                None,
                time.time(),
                Outcome.ANSWERED,
                200,
                1500,
                300,
                b"{}",
                "application/json",
                None,
                b"{}",
                "application/json",
                None,
            )  # fmt: skip
        )

    return 1e6 * per_call_seconds(count_one, 20_000)


# -- main -----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, help="repetitions (default 3; 1 with --quick)")
    parser.add_argument("--duration", type=float, help="measured seconds per run (default 10)")
    parser.add_argument("--warm-up", type=float, help="warm-up seconds per run (default 2)")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 repetition of 2 s after 1 s warm-up"
    )
    parser.add_argument(
        "--metrics", action="store_true", help="only what invocation counting costs (on ÷ off)"
    )
    parser.add_argument(
        "--lean",
        action="store_true",
        help="only issue 9's targets: c=1 unbatched and c=64 batched ÷ raw, router CPU, PSS, "
        "the idle request's batching cost (bench/lean.py)",
    )
    args = parser.parse_args()
    quick = {"repeat": 1, "duration": 2.0, "warm_up": 1.0}
    full = {"repeat": 3, "duration": 10.0, "warm_up": 2.0}
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.repeat < 1 or args.duration < 1 or args.warm_up < 0:
        parser.error("--repeat and --duration must be at least 1, --warm-up at least 0")
    return args


def _check_machine() -> None:
    cpus = os.sched_getaffinity(0)
    if not {SERVER_CPU, CLIENT_CPU} <= cpus:
        sys.exit(f"needs CPUs {CLIENT_CPU} and {SERVER_CPU}; this process may use {sorted(cpus)}")
    for tool in ("h2load", "taskset"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (h2load: Debian's nghttp2-client)")


def main() -> int:
    args = parse_args()
    _check_machine()
    if args.repeat < 3:
        print("note: fewer than 3 repetitions is a smoke test, not a measurement")
    os.sched_setaffinity(0, {CLIENT_CPU})  # this script and h2load stay off the server CPU
    with sigterm_as_exit(), tempfile.TemporaryDirectory(prefix="kiln-serving-") as tmp:
        workdir = Path(tmp)
        workload = build_workload(workdir)
        if args.metrics:
            timing = Timing(args.duration, args.warm_up)
            return 0 if measure_metrics_cost(workload, workdir, timing, args.repeat) else 1
        if args.lean:
            from lean import measure_lean

            timing = Timing(args.duration, args.warm_up)
            return 0 if measure_lean(workload, workdir, timing, args.repeat) else 1
        in_process = measure_in_process(workload, calls=200)
        in_process["auth_us"] = measure_auth_on_server_cpu()
        with ExitStack() as stack:
            kiln = start_kiln(workload, workdir, stack)
            timing = Timing(args.duration, args.warm_up)
            reps = [run_repetition(kiln, workload, workdir, timing, i) for i in range(args.repeat)]
    summary = summarise(reps)
    ok = print_report(summary, in_process, args)
    write_results(summary, in_process, reps, args, ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
