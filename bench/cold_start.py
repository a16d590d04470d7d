"""Cold starts with warm spares on and off: CreateEndpoint, scale-out and scale from zero.

    .venv/bin/python bench/cold_start.py [--repeat N]

Two ``kiln server`` processes run side by side, one with ``KILN_WARM_SPARES=1`` (the default)
and one with ``0`` (the reference: every replica a cold interpreter). Each repetition, in
alternating order, deploys the serving workload's breast-cancer forest (BENCHMARKING.md) on
each and times, on boto3 clients that never retry:

- **create**: ``CreateEndpoint`` → the first correct prediction (polled every 5 ms);
- **scale-out**: ``UpdateEndpointWeightsAndCapacities`` to 2 instances → ``DescribeEndpoint``
  shows 2 current instances (the controller records them right after it routes to them);
- **from zero**: with the variant scaled to 0 (and the spare pool refilled), one
  ``InvokeEndpoint`` → its correct answer (the request is held while one replica starts).

Prints medians (min–max) per server, warm ÷ cold, and verdicts against 0.5 s / 0.5 s / 1 s for
the warm server. Results go to ``bench/results/cold_start.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import orjson
from botocore.exceptions import ClientError
from common import run_header, sigterm_as_exit
from serving import Kiln, Workload, build_workload, deploy, start_kiln, undeploy

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results" / "cold_start.json"
TARGETS = {"create": 0.5, "scale_out": 0.5, "from_zero": 1.0}
POLL_S = 0.005
SETTLE_S = 6.0  # a taken spare's replacement imports scikit-learn: 1–4 s on this machine
TIMEOUT_S = 120.0


def _until(condition: Callable[[], bool], what: str) -> float:
    deadline = time.perf_counter() + TIMEOUT_S
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what}: not within {TIMEOUT_S:.0f} s")
        time.sleep(POLL_S)
    return time.perf_counter()


def _scale(kiln: Kiln, name: str, count: int) -> float:
    """Ask for ``count`` instances; seconds until DescribeEndpoint shows them current."""
    sm = kiln.sagemaker
    started = time.perf_counter()
    sm.update_endpoint_weights_and_capacities(
        EndpointName=name,
        DesiredWeightsAndCapacities=[{"VariantName": "main", "DesiredInstanceCount": count}],
    )

    def done() -> bool:
        described = sm.describe_endpoint(EndpointName=name)
        variant = described["ProductionVariants"][0]
        return bool(
            described["EndpointStatus"] == "InService" and variant["CurrentInstanceCount"] == count
        )

    return _until(done, f"{name} at {count}") - started


def _from_zero(kiln: Kiln, workload: Workload, name: str) -> float:
    """One InvokeEndpoint to a variant at zero: seconds to its correct answer."""
    body = workload.bodies[1].read_bytes()
    started = time.perf_counter()
    answer = kiln.runtime.invoke_endpoint(
        EndpointName=name, Body=body, ContentType="application/json"
    )
    elapsed = time.perf_counter() - started
    if orjson.loads(answer["Body"].read()).get("predictions") != workload.expected[1]:
        raise AssertionError(f"{name}: wrong predictions from zero")
    return elapsed


def one_repetition(kiln: Kiln, workload: Workload, name: str) -> dict[str, float]:
    """The three timings on one server."""
    time.sleep(SETTLE_S)  # the pool is full: what a quiet server has
    target = deploy(kiln, workload, name)
    time.sleep(SETTLE_S)
    scale_out = _scale(kiln, name, 2)
    _scale(kiln, name, 0)
    time.sleep(SETTLE_S)
    try:
        from_zero = _from_zero(kiln, workload, name)
    except ClientError as e:
        raise AssertionError(f"{name}: scale from zero failed: {e}") from e
    undeploy(kiln, name)
    return {"create": float(target.cold_start_s or 0.0), "scale_out": scale_out,
            "from_zero": from_zero}  # fmt: skip


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    """Run the benchmark; 0 when the warm server meets every target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"warm": [], "cold": []}
    with sigterm_as_exit(), ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        workload = build_workload(workdir)
        servers = {
            "warm": start_kiln(workload, workdir, stack, "warm-home", KILN_WARM_SPARES="1"),
            "cold": start_kiln(workload, workdir, stack, "cold-home", KILN_WARM_SPARES="0"),
        }
        for rep in range(args.repeat):
            order = ["warm", "cold"] if rep % 2 == 0 else ["cold", "warm"]
            for which in order:
                timings = one_repetition(servers[which], workload, f"cold-{which}-{rep}")
                runs[which].append(timings)
                line = " ".join(f"{k}={v:.3f}s" for k, v in timings.items())
                print(f"rep {rep} {which}: {line}", flush=True)
    summary = {
        which: {k: _stats([r[k] for r in reps]) for k in TARGETS} for which, reps in runs.items()
    }
    print(f"\n{'':10} {'warm spares':>26} {'no spares (ref)':>26} {'warm/cold':>10}")
    passed = True
    for key, target in TARGETS.items():
        warm, cold = summary["warm"][key], summary["cold"][key]
        ratio = statistics.median(
            w[key] / c[key] for w, c in zip(runs["warm"], runs["cold"], strict=True)
        )
        print(
            f"{key:10} {warm['median']:8.3f} s ({warm['min']:.3f}–{warm['max']:.3f})"
            f" {cold['median']:8.3f} s ({cold['min']:.3f}–{cold['max']:.3f}) {ratio:10.2f}"
        )
        passed &= warm["median"] <= target
    for key, target in TARGETS.items():
        value = summary["warm"][key]["median"]
        verdict = "PASS" if value <= target else "FAIL"
        print(
            f"VERDICT: {key} {value:.3f} s {'≤' if value <= target else '>'} {target} s: {verdict}"
        )
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(
        json.dumps({**run_header("cold_start"), "summary": summary, "runs": runs}, indent=2)
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
