"""Training-job overhead: what Kiln adds around a training script, beside a bare ``python``.

Two phases, for a job whose environment is cached (its ``requirements.txt`` was seen before):

- start:  ``CreateTrainingJob`` called → the script's first statement runs;
- finish: the script's last statement → ``DescribeTrainingJob`` first answers ``Completed``
  (polled every ``--poll-ms``), and → the server's own ``TrainingEndTime``.

The reference, in the same run and interleaved with the jobs, is the same script started with
``subprocess.Popen`` on the same interpreter (the cached environment's ``python``): Popen → first
statement, and last statement → process reaped. The script writes ``time.time()`` as its first
statement and again just before it exits, into ``$SM_MODEL_DIR/times.json``; Kiln's copy is read
back from ``model.tar.gz``. One machine, one wall clock.

The requirement is a tiny wheel built here, named by ``file://`` URL, and uv runs with
``UV_OFFLINE=1``: nothing but loopback is touched. Run:
``.venv/bin/python bench/training_overhead.py [--repeat N]``. Results also go to
``bench/results/training_overhead.json``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import boto3
from common import bench_settings, run_header, sigterm_as_exit

from kiln.config import Settings
from kiln.server import ServerThread

RESULTS = Path(__file__).resolve().parent / "results" / "training_overhead.json"
TARGET_S = 0.5
JOB_TIMEOUT_S = 120.0
ROLE = "arn:aws:iam::000000000000:role/kiln"
WHEEL_NAME = "kiln_bench_marker"

# The first statement takes the start time; nothing of the script's own runs before it.
SCRIPT = """\
import time; T_START = time.time()
import json, os
import kiln_bench_marker  # fails unless the cached environment is the one that runs

times = os.path.join(os.environ["SM_MODEL_DIR"], "times.json")
with open("/proc/self/cgroup") as f:
    CGROUP = f.read().strip()
T_END = time.time()
with open(times, "w") as f:
    json.dump({"t_start": T_START, "t_end": T_END, "cwd": os.getcwd(), "cgroup": CGROUP}, f)
"""

# Spans read from the server's SecondaryStatusTransitions, beside the script's own stamps.
BREAKDOWN = (
    ("create_call", "CreateTrainingJob request → response (client)"),
    ("queued", "CreationTime → Downloading (scheduler → runner thread)"),
    ("prepare", "Downloading → Training (source, env lookup, config)"),
    ("spawn", "Training → script's first line (cgroup, bwrap, python)"),
    ("exit_seen", "script's last line → Uploading (exit noticed, pumps, release)"),
    ("upload", "Uploading → TrainingEndTime (pack, upload, store)"),
    ("observed", "TrainingEndTime → client sees Completed (poll)"),
)


@dataclass
class Phases:
    """One run's two phases, in seconds."""

    start: float
    finish: float
    finish_server: float | None = None
    breakdown: dict[str, float] | None = None
    seen_by_script: dict[str, str] | None = None


@dataclass
class Bench:
    """A running Kiln, its clients, and the folder with the job's source."""

    thread: ServerThread
    settings: Settings
    sagemaker: Any
    s3: Any
    source_uri: str
    requirements: str


# -- setup ----------------------------------------------------------------------------------------


def _build_wheel(folder: Path) -> Path:
    """A one-module wheel (``kiln_bench_marker``) that uv installs without any index."""
    version = "1.0"
    info = f"{WHEEL_NAME}-{version}.dist-info"
    files = {
        f"{WHEEL_NAME}.py": b"MARKER = True\n",
        f"{info}/METADATA": (
            f"Metadata-Version: 2.1\nName: kiln-bench-marker\nVersion: {version}\n".encode()
        ),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: kiln-bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{name},{_wheel_hash(data)},{len(data)}\n" for name, data in files.items())
    path = folder / f"{WHEEL_NAME}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\n")
    return path


def _wheel_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def _source_tarball(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _client(settings: Settings, service: Literal["sagemaker", "s3"], endpoint: str) -> Any:
    creds = settings.credentials
    return boto3.session.Session().client(
        service,
        endpoint_url=endpoint,
        region_name=settings.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
    )


@contextmanager
def running_kiln(workdir: Path) -> Iterator[Bench]:
    """A Kiln server on free loopback ports in ``workdir``, stopped on the way out."""
    settings = bench_settings(workdir / "kiln-home")
    thread = ServerThread(settings)
    try:
        thread.start()
        sagemaker = _client(settings, "sagemaker", thread.endpoint)
        s3 = _client(settings, "s3", settings.s3_endpoint_url)
        wheel = _build_wheel(workdir)
        requirements = f"kiln-bench-marker @ {wheel.as_uri()}\n"
        files = {"train.py": SCRIPT, "requirements.txt": requirements}
        thread.kiln.objects.ensure_bucket("code")
        key = f"{uuid.uuid4().hex}/sourcedir.tar.gz"
        s3.put_object(Bucket="code", Key=key, Body=_source_tarball(files))
        yield Bench(thread, settings, sagemaker, s3, f"s3://code/{key}", requirements)
    finally:
        thread.stop()


# -- one Kiln job ---------------------------------------------------------------------------------


def _job_request(name: str, source_uri: str) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "RoleArn": ROLE,
        "AlgorithmSpecification": {"TrainingImage": "kiln/python", "TrainingInputMode": "File"},
        "HyperParameters": {
            "sagemaker_program": '"train.py"',
            "sagemaker_submit_directory": f'"{source_uri}"',
        },
        "OutputDataConfig": {"S3OutputPath": "s3://output/bench"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": int(JOB_TIMEOUT_S)},
    }


def _wait_until_done(sagemaker: Any, name: str, poll_s: float) -> tuple[float, dict[str, Any]]:
    """Poll DescribeTrainingJob; the time the end was first seen, and that description."""
    deadline = time.monotonic() + JOB_TIMEOUT_S
    while time.monotonic() < deadline:
        described = sagemaker.describe_training_job(TrainingJobName=name)
        seen = time.time()
        if described["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return seen, described
        time.sleep(poll_s)
    raise TimeoutError(f"training job {name} did not end within {JOB_TIMEOUT_S:.0f} s")


def _script_times(s3: Any, described: dict[str, Any]) -> dict[str, Any]:
    uri = described["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        member = tar.extractfile("times.json")
        if member is None:
            raise RuntimeError(f"{uri} holds no times.json")
        times: dict[str, Any] = json.load(member)
    return times


def _transition_starts(described: dict[str, Any]) -> dict[str, float]:
    return {
        t["Status"]: t["StartTime"].timestamp() for t in described["SecondaryStatusTransitions"]
    }


def run_kiln_job(bench: Bench, poll_s: float) -> Phases:
    """Create one job, poll it to its end, and time both phases."""
    name = f"overhead-{uuid.uuid4().hex[:12]}"
    request = _job_request(name, bench.source_uri)
    t_call = time.time()
    bench.sagemaker.create_training_job(**request)
    t_answer = time.time()
    seen, described = _wait_until_done(bench.sagemaker, name, poll_s)
    if described["TrainingJobStatus"] != "Completed":
        reason = described.get("FailureReason", "no FailureReason")
        raise RuntimeError(f"job {name} ended {described['TrainingJobStatus']}: {reason}")
    times = _script_times(bench.s3, described)
    starts = _transition_starts(described)
    ended = described["TrainingEndTime"].timestamp()
    breakdown = {
        "create_call": t_answer - t_call,
        "queued": starts["Downloading"] - described["CreationTime"].timestamp(),
        "prepare": starts["Training"] - starts["Downloading"],
        "spawn": times["t_start"] - starts["Training"],
        "exit_seen": starts["Uploading"] - times["t_end"],
        "upload": ended - starts["Uploading"],
        "observed": seen - ended,
    }
    where = {"cwd": times["cwd"], "cgroup": times["cgroup"]}
    return Phases(
        times["t_start"] - t_call, seen - times["t_end"], ended - times["t_end"], breakdown, where
    )


# -- the bare reference ---------------------------------------------------------------------------


def run_bare(python: Path, workdir: Path) -> Phases:
    """The same script under a plain ``Popen``: Popen → first line, last line → reaped."""
    folder = Path(tempfile.mkdtemp(prefix="bare-", dir=workdir))
    try:
        (folder / "train.py").write_text(SCRIPT)
        model_dir = folder / "model"
        model_dir.mkdir()
        env = {**os.environ, "SM_MODEL_DIR": str(model_dir), "PYTHONUNBUFFERED": "1"}
        t_popen = time.time()
        process = subprocess.Popen(
            [str(python), "train.py"],
            cwd=folder,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        _out, err = process.communicate(timeout=JOB_TIMEOUT_S)
        t_reaped = time.time()
        if process.returncode != 0:
            raise RuntimeError(f"bare run failed ({process.returncode}): {err.decode()[-600:]}")
        times = json.loads((model_dir / "times.json").read_text())
        return Phases(times["t_start"] - t_popen, t_reaped - times["t_end"])
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def cached_env_python(settings: Settings) -> Path:
    """The interpreter of the one environment the warm-up built."""
    pythons = sorted(settings.envs_dir.glob("*/bin/python"))
    if len(pythons) != 1:
        raise RuntimeError(f"expected one cached environment in {settings.envs_dir}: {pythons}")
    return pythons[0]


# -- summary and report ---------------------------------------------------------------------------


def _stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def summarise(pairs: list[tuple[Phases, Phases]]) -> dict[str, Any]:
    """Medians and min–max of each phase, and of Kiln − bare and Kiln ÷ bare per repetition."""
    summary: dict[str, Any] = {}
    for phase in ("start", "finish"):
        kiln = [getattr(k, phase) for k, _b in pairs]
        bare = [getattr(b, phase) for _k, b in pairs]
        summary[phase] = {
            "kiln_s": _stats(kiln),
            "bare_s": _stats(bare),
            "overhead_s": _stats([k - b for k, b in zip(kiln, bare, strict=True)]),
            "ratio": _stats([k / b for k, b in zip(kiln, bare, strict=True)]),
        }
    server = [k.finish_server for k, _b in pairs if k.finish_server is not None]
    summary["finish_server_s"] = _stats(server)
    summary["breakdown_s"] = {
        key: _stats([k.breakdown[key] for k, _b in pairs if k.breakdown]) for key, _ in BREAKDOWN
    }
    return summary


def _ms(stats: dict[str, float]) -> str:
    return f"{stats['median'] * 1e3:8.1f} ms ({stats['min'] * 1e3:.1f}–{stats['max'] * 1e3:.1f})"


def _ratio(stats: dict[str, float]) -> str:
    return f"{stats['median']:6.1f}× ({stats['min']:.1f}–{stats['max']:.1f})"


def describe_confinement(job: Phases) -> str:
    """Whether the job ran in the bwrap sandbox and in a cgroup of Kiln's, as it saw itself."""
    where = job.seen_by_script or {}
    cwd = where.get("cwd", "?")
    sandbox = "bwrap sandbox" if cwd.startswith("/opt/ml") else "NOT sandboxed"
    cgroup = "Kiln cgroup" if "/kiln/" in where.get("cgroup", "") else "NO Kiln cgroup"
    return f"cwd {cwd} ({sandbox}), {cgroup}"


def print_report(summary: dict[str, Any], cold: Phases, repeat: int, poll_ms: float) -> bool:
    """The table and the verdict line; whether both phases meet the target."""
    print(f"\nTraining-job overhead, cached environment: median (min–max) of {repeat} runs")
    print(f"job seen from inside: {describe_confinement(cold)}")
    print(f"{'phase':<8} {'kiln':<28} {'bare python':<28} {'kiln − bare':<28} kiln ÷ bare")
    for phase, label in (("start", "start"), ("finish", "finish")):
        row = summary[phase]
        print(
            f"{label:<8} {_ms(row['kiln_s']):<28} {_ms(row['bare_s']):<28} "
            f"{_ms(row['overhead_s']):<28} {_ratio(row['ratio'])}"
        )
    print("start:  CreateTrainingJob call → first line   | Popen → first line")
    print(f"finish: last line → Completed seen (poll {poll_ms:g} ms) | last line → process reaped")
    print(f"last line → TrainingEndTime (server's record): {_ms(summary['finish_server_s'])}")
    print("\nWhere Kiln's time goes (server timestamps):")
    for key, label in BREAKDOWN:
        print(f"  {label:<62} {_ms(summary['breakdown_s'][key])}")
    assert cold.breakdown is not None
    print(
        f"\nWarm-up job (builds the environment, not counted): start {cold.start:.2f} s, "
        f"of which prepare {cold.breakdown['prepare']:.2f} s"
    )
    start = float(summary["start"]["overhead_s"]["median"])
    finish = float(summary["finish"]["overhead_s"]["median"])
    ok = start < TARGET_S and finish < TARGET_S
    print(
        f"\nVERDICT: start overhead {start:.3f} s {'<' if start < TARGET_S else '>='} "
        f"{TARGET_S} s, finish overhead {finish:.3f} s {'<' if finish < TARGET_S else '>='} "
        f"{TARGET_S} s: {'PASS' if ok else 'FAIL'}"
    )
    return ok


def write_results(
    summary: dict[str, Any],
    pairs: list[tuple[Phases, Phases]],
    cold: Phases,
    args: argparse.Namespace,
    ok: bool,
) -> None:
    """Everything measured, as JSON beside the benchmark."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {
        **run_header("training_overhead"),
        "repeat": args.repeat,
        "poll_ms": args.poll_ms,
        "target_s": TARGET_S,
        "pass": ok,
        "summary": summary,
        "warm_up": vars(cold),
        "runs": [{"kiln": vars(k), "bare": vars(b)} for k, b in pairs],
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n")
    print(f"results: {RESULTS}")


# -- main -----------------------------------------------------------------------------------------


def measure(bench: Bench, workdir: Path, repeat: int, poll_s: float) -> tuple[list[Any], Phases]:
    """Warm up, then ``repeat`` interleaved pairs (the order alternates); pairs and warm-up."""
    cold = run_kiln_job(bench, poll_s)
    python = cached_env_python(bench.settings)
    run_bare(python, workdir)
    pairs = []
    for i in range(repeat):
        if i % 2:
            kiln = run_kiln_job(bench, poll_s)
            bare = run_bare(python, workdir)
        else:
            bare = run_bare(python, workdir)
            kiln = run_kiln_job(bench, poll_s)
        print(f"run {i + 1}/{repeat}: start {kiln.start:.3f} s (bare {bare.start:.3f} s), ", end="")
        print(f"finish {kiln.finish:.3f} s (bare {bare.finish:.3f} s)", flush=True)
        pairs.append((kiln, bare))
    return pairs, cold


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=7, help="measured runs (default 7)")
    parser.add_argument("--poll-ms", type=float, default=5.0, help="DescribeTrainingJob poll")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.repeat < 3:
        print("note: fewer than 3 repetitions is a smoke test, not a measurement")
    os.environ["UV_OFFLINE"] = "1"  # the wheel is local: uv must never reach an index
    with sigterm_as_exit(), tempfile.TemporaryDirectory(prefix="kiln-bench-") as tmp:
        workdir = Path(tmp)
        with running_kiln(workdir) as bench:
            pairs, cold = measure(bench, workdir, args.repeat, args.poll_ms / 1e3)
    summary = summarise(pairs)
    ok = print_report(summary, cold, args.repeat, args.poll_ms)
    write_results(summary, pairs, cold, args, ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
