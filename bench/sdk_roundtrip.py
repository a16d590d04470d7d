"""SDK round trip: the unchanged SDK v2's ``fit()`` and ``deploy()`` beside Kiln's own time.

For each repetition, in the SDK v2's own virtualenv (built as the compat suite builds it):

- ``fit()`` (logs on, the default) wall time, beside the job's own duration on the server
  (``CreationTime`` → ``TrainingEndTime`` from DescribeTrainingJob);
- ``deploy()`` wall time, beside the endpoint's own ``CreationTime`` → ``LastModifiedTime``
  (the moment it went InService) from DescribeEndpoint;
- the same two with ``fit(wait=False)`` / ``deploy(wait=False)`` and boto3's waiters polling every
  0.2 s: how a user waits less. The two ways alternate within each repetition.

Kiln's own time is the reference: ratio = client wall ÷ Kiln's time, and client wall − Kiln's time
is what the client spent waiting on its own (the SDK sleeps ~30 s before its first
DescribeEndpoint). Run: ``.venv/bin/python bench/sdk_roundtrip.py [--repeat N] [--no-logs]``.
Results also go to ``bench/results/sdk_roundtrip.json``. Needs PyPI once, to build the SDK's
virtualenv (cached under ``.venv-compat/``); the runs themselves use loopback only.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

from common import bench_settings, run_header, sigterm_as_exit

from kiln.server import ServerThread

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from compat.harness import (  # noqa: E402 (the harness lives with the compat suite)
    ROLE,
    SCRIPTS,
    client_env,
    ensure_venv,
    non_loopback_traffic,
    run_client,
)

RESULTS = Path(__file__).resolve().parent / "results" / "sdk_roundtrip.json"

CLIENT = textwrap.dedent(
    """
    import json, sys, time
    import sagemaker
    from sagemaker.sklearn import SKLearn

    data, role, source, repeat, logs = sys.argv[1:6]
    session = sagemaker.Session()
    sm = session.sagemaker_client
    uri = session.upload_data(data, key_prefix="bench/sdk-roundtrip")
    FAST = {"Delay": 0.2, "MaxAttempts": 3000}

    def once(way):
        est = SKLearn(entry_point="train.py", source_dir=source, framework_version="1.2-1",
                      instance_type="ml.m5.large", role=role)
        t = time.time()
        if way == "sdk":
            est.fit({"train": uri}, logs=logs == "on")
        else:
            est.fit({"train": uri}, wait=False)
            sm.get_waiter("training_job_completed_or_stopped").wait(
                TrainingJobName=est.latest_training_job.name, WaiterConfig=FAST)
        fit_wall = time.time() - t
        job = sm.describe_training_job(TrainingJobName=est.latest_training_job.name)
        t = time.time()
        if way == "sdk":
            predictor = est.deploy(1, "ml.m5.large")
        else:
            predictor = est.deploy(1, "ml.m5.large", wait=False)
            sm.get_waiter("endpoint_in_service").wait(
                EndpointName=predictor.endpoint_name, WaiterConfig=FAST)
        deploy_wall = time.time() - t
        ep = sm.describe_endpoint(EndpointName=predictor.endpoint_name)
        predictor.delete_model()
        predictor.delete_endpoint()
        return {
            "way": way,
            "fit_wall": fit_wall,
            "job": (job["TrainingEndTime"] - job["CreationTime"]).total_seconds(),
            "deploy_wall": deploy_wall,
            "endpoint": (ep["LastModifiedTime"] - ep["CreationTime"]).total_seconds(),
        }

    for i in range(int(repeat)):
        for way in (("sdk", "boto3") if i % 2 == 0 else ("boto3", "sdk")):
            print("ROW " + json.dumps({"rep": i, **once(way)}), flush=True)
    """
)


def _cancer_csv(folder: Path) -> Path:
    import numpy as np
    from sklearn.datasets import load_breast_cancer

    cancer = load_breast_cancer()
    folder.mkdir()
    rows = np.column_stack([cancer.target, cancer.data])
    np.savetxt(folder / "train.csv", rows, delimiter=",", fmt="%.10g")
    return folder


def measure(workdir: Path, repeat: int, logs: bool) -> list[dict[str, Any]]:
    """Run the client against a fresh Kiln; one row per (repetition, way)."""
    python = ensure_venv("sdk-v2").python
    settings = bench_settings(workdir / "kiln-home")
    thread = ServerThread(settings).start()
    try:
        settings = replace(settings, endpoint=thread.endpoint)
        env = client_env(settings, workdir / "client-home")
        script = workdir / "client.py"
        script.write_text(CLIENT)
        argv = [python, script, _cancer_csv(workdir / "data"), ROLE,
                SCRIPTS / "sklearn_cancer", str(repeat), "on" if logs else "off"]  # fmt: skip
        done = run_client(argv, env, cwd=workdir, timeout=600 + 240 * repeat)
    finally:
        thread.stop()
    leaked = non_loopback_traffic(env)
    if done.returncode != 0 or leaked:
        sys.exit(f"the SDK client failed (exit {done.returncode}, non-loopback {leaked}):\n"
                 f"{done.stdout[-5000:]}")  # fmt: skip
    rows = [json.loads(line[4:]) for line in done.stdout.splitlines() if line.startswith("ROW ")]
    for row in rows:
        print(f"run {row['rep'] + 1} {row['way']:>5}: fit {row['fit_wall']:.1f} s (job "
              f"{row['job']:.1f} s), deploy {row['deploy_wall']:.1f} s (endpoint "
              f"{row['endpoint']:.1f} s)")  # fmt: skip
    return rows


def _stat(values: list[float]) -> str:
    return f"{statistics.median(values):6.2f} ({min(values):.2f}–{max(values):.2f})"


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per way and phase: client wall, Kiln's own time, their ratio and difference."""
    summary: dict[str, Any] = {}
    for way in ("sdk", "boto3"):
        mine = [r for r in rows if r["way"] == way]
        for phase, wall, own in (("fit", "fit_wall", "job"), ("deploy", "deploy_wall", "endpoint")):
            summary[f"{way}.{phase}"] = {
                "wall": [r[wall] for r in mine],
                "kiln": [r[own] for r in mine],
                "ratio": [r[wall] / max(r[own], 1e-3) for r in mine],
                "client_wait": [r[wall] - r[own] for r in mine],
            }
    return summary


def print_report(summary: dict[str, Any], repeat: int, logs: bool) -> None:
    print(f"\nmedian (min–max) over {repeat} repetition(s); fit logs {'on' if logs else 'off'}")
    print(f"{'way / phase':<14} {'client wall s':>22} {'Kiln own s':>22} {'wall ÷ Kiln':>22} "
          f"{'client-side wait s':>22}")  # fmt: skip
    for key, figures in summary.items():
        print(f"{key:<14} {_stat(figures['wall']):>22} {_stat(figures['kiln']):>22} "
              f"{_stat(figures['ratio']):>22} {_stat(figures['client_wait']):>22}")  # fmt: skip
    sdk, fast = summary["sdk.deploy"], summary["boto3.deploy"]
    print(f"\ndeploy(): the SDK waits {statistics.median(sdk['client_wait']):.1f} s beyond Kiln's "
          f"own {statistics.median(sdk['kiln']):.1f} s; deploy(wait=False) + a 0.2 s boto3 waiter "
          f"waits {statistics.median(fast['client_wait']):.1f} s beyond it.")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--no-logs", action="store_true", help="fit(logs=False) on the SDK way")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    logs = not args.no_logs
    with sigterm_as_exit(), tempfile.TemporaryDirectory(prefix="kiln-bench-") as tmp:
        rows = measure(Path(tmp), args.repeat, logs)
    summary = summarise(rows)
    print_report(summary, args.repeat, logs)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {**run_header("sdk_roundtrip"), "settings": vars(args), "summary": summary,
                "rows": rows}  # fmt: skip
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
