"""Autoscaling: a load step → the scaler's decision → the new replica serving, against 5 s.

One ``kiln server`` (its own process, pinned to CPU 1 with its replicas) serves two endpoints
of the serving workload v1 (BENCHMARKING.md), one instance each: ``auto``, registered with
Application Auto Scaling (min 1, max 2) under a target tracking policy on
``SageMakerVariantInvocationsPerInstance`` with TargetValue 60 (one request a second per
instance), and ``manual``, without. Each repetition, in alternating order:

- **step** (``auto``): load threads (CPU 0; closed loop, 1-row body, a bearer key) start at once;
  timed from that instant to the scaling activity's ``StartTime`` (the scaler's decision, the
  server's clock: same machine) and to ``CurrentInstanceCount`` = 2 (the new replica serving).
  The load stops; the scaler scales back in (ScaleInCooldown 3 s) with a trickle still sent.
- **reference** (``manual``): ``UpdateEndpointWeightsAndCapacities`` to 2 by hand → the new
  replica serving, then back to 1: the floor any scaler's "serving" figure stands on.

Every request of the load is checked (HTTP 200 with the in-process predictions): a failure
while scaling out or in is reported. Targets: the decision ≤ 5 s after the step (SageMaker:
minutes; Knative's panic window: 6 s), and the new replica serving ≤ 5 s after the step. The
second rests on the replica's start, which under load (the replicas share the server's CPU)
is a cold interpreter importing scikit-learn until warm starts (issue 9, item 5) land.

Run: ``.venv/bin/python bench/autoscale.py [--repeat N]``; results also go to
``bench/results/autoscale.json``. Exit status 0: target met and no failed request; 1: not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
from common import run_header, sigterm_as_exit
from loadgen import CLIENT_CPU, SERVER_CPU
from serving import ROLE, Kiln, Workload, _client, _first_invoke, build_workload, post, start_kiln

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "autoscale.json"
TARGET_S = 5.0
LOAD_THREADS = 4
POLL_S = 0.02
WAIT_S = 120.0
SCOPE = {
    "ServiceNamespace": "sagemaker",
    "ScalableDimension": "sagemaker:variant:DesiredInstanceCount",
}


class Load:
    """Threads posting the 1-row body until stopped; every answer checked."""

    def __init__(self, kiln: Kiln, workload: Workload, endpoint: str, threads: int, pause: float):
        self._port, self._path = kiln.settings.port, f"/endpoints/{endpoint}/invocations"
        self._headers = {"Authorization": f"Bearer {kiln.api_key}"}
        self._body, self._expected = workload.bodies[1].read_bytes(), workload.expected[1]
        self._pause = pause
        self._stop = threading.Event()
        self.sent = 0
        self.failures: list[str] = []
        self._threads = [threading.Thread(target=self._run) for _ in range(threads)]
        for thread in self._threads:
            thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, answer = post(self._port, self._path, self._body, 30.0, self._headers)
                ok = status == 200 and orjson.loads(answer).get("predictions") == self._expected
                problem = None if ok else f"{status} {answer[:120]!r}"
            except OSError as e:
                problem = f"connection: {e}"
            self.sent += 1
            if problem is not None:
                self.failures.append(problem)
            self._stop.wait(self._pause)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def deploy(kiln: Kiln, workload: Workload, name: str) -> None:
    """An endpoint of one instance of the workload's model, answering correctly."""
    sm = kiln.sagemaker
    container = {"Image": "kiln/python", "ModelDataUrl": kiln.model_uri}
    sm.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    variant = {"VariantName": "main", "ModelName": name, "InitialInstanceCount": 1,
               "InstanceType": "ml.m5.large"}  # fmt: skip
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    _first_invoke(kiln, name, workload.bodies[1].read_bytes(), workload.expected[1])


def register(kiln: Kiln, scaling: Any) -> None:
    """``auto``'s target (1–2) and its target tracking policy."""
    target = {**SCOPE, "ResourceId": "endpoint/auto/variant/main"}
    scaling.register_scalable_target(**target, MinCapacity=1, MaxCapacity=2)
    scaling.put_scaling_policy(
        PolicyName="per-instance",
        **target,
        PolicyType="TargetTrackingScaling",
        TargetTrackingScalingPolicyConfiguration={
            "TargetValue": 60.0,
            "PredefinedMetricSpecification": {
                "PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"
            },
            "ScaleOutCooldown": 0,
            "ScaleInCooldown": 3,
        },
    )


def counts(kiln: Kiln, endpoint: str) -> tuple[int, int]:
    """(DesiredInstanceCount, CurrentInstanceCount) of the endpoint's variant."""
    variant = kiln.sagemaker.describe_endpoint(EndpointName=endpoint)["ProductionVariants"][0]
    return int(variant["DesiredInstanceCount"]), int(variant.get("CurrentInstanceCount", 0))


def wait_for(condition: Callable[[], bool], what: str) -> float:
    """Poll until ``condition``; the epoch time it first held."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {WAIT_S:.0f} s")
        time.sleep(POLL_S)
    return time.time()


def step(kiln: Kiln, workload: Workload, scaling: Any) -> dict[str, Any]:
    """A load step on ``auto``: seconds to the decision and to the new replica serving."""
    before = {a["ActivityId"] for a in _activities(scaling)}
    started = time.time()
    load = Load(kiln, workload, "auto", LOAD_THREADS, 0.01)
    try:
        serving = wait_for(lambda: counts(kiln, "auto") == (2, 2), "auto scaled out to 2")
    finally:
        load.stop()
    decided = min(a["StartTime"].timestamp() for a in _activities(scaling)
                  if a["ActivityId"] not in before)  # fmt: skip
    trickle = Load(kiln, workload, "auto", 1, 3.0)
    try:
        back = wait_for(lambda: counts(kiln, "auto") == (1, 1), "auto scaled back in to 1")
    finally:
        trickle.stop()
    return {
        "decision_s": decided - started,
        "serving_s": serving - started,
        "replica_start_s": serving - decided,
        "scale_in_s": back - serving,
        "requests": load.sent + trickle.sent,
        "failures": load.failures + trickle.failures,
    }


def reference(kiln: Kiln) -> float:
    """``UpdateEndpointWeightsAndCapacities`` to 2 by hand → serving, in seconds; then back."""

    def set_count(count: int) -> float:
        started = time.time()
        kiln.sagemaker.update_endpoint_weights_and_capacities(
            EndpointName="manual",
            DesiredWeightsAndCapacities=[{"VariantName": "main", "DesiredInstanceCount": count}],
        )
        return wait_for(lambda: counts(kiln, "manual") == (count, count), "manual") - started

    seconds = set_count(2)
    set_count(1)
    return seconds


def _activities(scaling: Any) -> list[dict[str, Any]]:
    answer = scaling.describe_scaling_activities(
        ServiceNamespace="sagemaker", ResourceId="endpoint/auto/variant/main"
    )
    return list(answer["ScalingActivities"])


def _summary(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} s ({min(values):.2f}–{max(values):.2f})"


def report(reps: list[dict[str, Any]]) -> bool:
    """Print each repetition, the medians, and the verdict."""
    for i, rep in enumerate(reps):
        print(f"rep {i}: step → decision {rep['decision_s']:.2f} s, → serving "
              f"{rep['serving_s']:.2f} s (replica start {rep['replica_start_s']:.2f} s; by hand "
              f"{rep['reference_s']:.2f} s), scale-in {rep['scale_in_s']:.2f} s, "
              f"{rep['requests']} requests, {len(rep['failures'])} failed")  # fmt: skip
    decision = [r["decision_s"] for r in reps]
    serving = [r["serving_s"] for r in reps]
    print(f"load step → scaler's decision     {_summary(decision)}")
    print(f"load step → new replica serving   {_summary(serving)}")
    print(f"decision → replica serving        {_summary([r['replica_start_s'] for r in reps])}")
    print(f"by hand: update → replica serving {_summary([r['reference_s'] for r in reps])}")
    ratio = [r["replica_start_s"] / r["reference_s"] for r in reps]
    print(f"replica start ÷ by hand           {statistics.median(ratio):6.2f} "
          f"({min(ratio):.2f}–{max(ratio):.2f})")  # fmt: skip
    failed = sum(len(r["failures"]) for r in reps)
    reaction, served = statistics.median(decision), statistics.median(serving)
    verdicts = {
        f"reaction (step → decision) {reaction:.2f} s ≤ {TARGET_S:g} s": reaction <= TARGET_S,
        f"step → new replica serving {served:.2f} s ≤ {TARGET_S:g} s": served <= TARGET_S,
        f"{failed} failed requests": failed == 0,
    }
    print("VERDICT: " + "; ".join(f"{k}: {'PASS' if v else 'FAIL'}" for k, v in verdicts.items()))
    ok = all(verdicts.values())
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if not {SERVER_CPU, CLIENT_CPU} <= os.sched_getaffinity(0):
        sys.exit(f"needs CPUs {CLIENT_CPU} and {SERVER_CPU}")
    os.sched_setaffinity(0, {CLIENT_CPU})
    with sigterm_as_exit(), tempfile.TemporaryDirectory(prefix="kiln-autoscale-") as tmp:
        workdir = Path(tmp)
        workload = build_workload(workdir)
        with ExitStack() as stack:
            kiln = start_kiln(workload, workdir, stack)
            scaling = _client(kiln.settings, "application-autoscaling", kiln.settings.endpoint)
            for name in ("auto", "manual"):
                deploy(kiln, workload, name)
            register(kiln, scaling)
            reps = []
            for i in range(args.repeat):
                if i % 2:
                    ref = reference(kiln)
                    rep = step(kiln, workload, scaling)
                else:
                    rep = step(kiln, workload, scaling)
                    ref = reference(kiln)
                reps.append({**rep, "reference_s": ref})
    ok = report(reps)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {**run_header("autoscale"), "target_s": TARGET_S, "pass": ok, "repetitions": reps}
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {RESULTS}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
