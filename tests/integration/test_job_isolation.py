"""Sealed sandboxes: what a job can reach of the server and the machine, and what it leaves."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from conftest import (
    LOCAL_BACKEND_ONLY,
    Kiln,
    deploy,
    make_settings,
    model_files,
    script_job,
    start_kiln,
    upload_model,
    upload_source,
    wait_for_log,
)
from kiln.compute.sandbox import bwrap_binary
from kiln.errors import SandboxUnavailableError
from kiln.server import KilnServer

# bwrap sandboxes, process groups and Unix sockets on the server's machine; Ray nodes run jobs
# unsandboxed as their user (docs/scale-out.md).
pytestmark = LOCAL_BACKEND_ONLY

# Each attempt reports what it got: "blocked: <error>" is the only acceptable answer.
ESCAPES = r"""
import json, os

server, home, other = os.environ["SERVER_PID"], os.environ["SERVER_HOME"], os.environ["OTHER"]
attempts = {
    "server environment": lambda: open(f"/proc/{server}/environ", "rb").read(),
    "server root": lambda: open(f"/proc/{server}/root{home}/credentials.json").read(),
    "server signal": lambda: os.kill(int(server), 0),
    "credentials": lambda: open(f"{home}/credentials.json").read(),
    "database": lambda: open(os.environ["DATABASE"], "rb").read(),
    "write kiln home": lambda: open(f"{home}/pwned", "w").write("x"),
    "shadow": lambda: open("/etc/shadow").read(),
    "other workspace": lambda: open(other).read(),
}

def kernel_settings():
    # access(2) only: a write that got through would change the host's kernel
    if os.access("/proc/sys/kernel/core_pattern", os.W_OK):
        return "writable"
    raise PermissionError("read-only")

attempts["kernel settings"] = kernel_settings

def kiln_processes():
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"KILN_HOME=" in open(f"/proc/{pid}/environ", "rb").read():
                found.append(pid)
        except OSError:
            pass
    if found:
        return found
    raise LookupError(f"no process with KILN_HOME among {sorted(os.listdir('/proc'))[:8]}")

attempts["server by scanning /proc"] = kiln_processes
report = {}
for name, attempt in attempts.items():
    try:
        report[name] = f"REACHED: {str(attempt())[:80]}"
    except Exception as e:
        report[name] = f"blocked: {type(e).__name__}: {e}"
status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines())
report["capabilities"] = status["CapEff"]
report["no_new_privs"] = status["NoNewPrivs"]
open(os.path.join(os.environ["SM_MODEL_DIR"], "report.json"), "w").write(json.dumps(report))
"""

SLEEPER = "import time\nprint('started', flush=True)\ntime.sleep(300)\n"

GRANDCHILD = r"""
import os, subprocess, sys
child = subprocess.Popen(
    [sys.executable, "-c", "import time; time.sleep(300)", os.environ["MARKER"]],
    start_new_session=True,
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
assert os.getsid(child.pid) != os.getsid(0)
print("detached grandchild", child.pid, flush=True)
"""


def _needs_bwrap() -> None:
    if bwrap_binary() is None:
        pytest.skip("bubblewrap is not installed")


def _cgroups_writable() -> bool:
    return os.access("/sys/fs/cgroup/memory", os.W_OK) or os.access(
        "/sys/fs/cgroup/cgroup.subtree_control", os.W_OK
    )


def _processes_with(marker: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            continue
    return found


def test_sandboxed_job_reaches_nothing_of_the_server_or_other_jobs(
    tmp_path: Path, database_url: str
) -> None:
    _needs_bwrap()
    settings = make_settings(tmp_path / "home", database_url, KILN_SANDBOX="required")
    with start_kiln(settings) as kiln:
        kiln.sagemaker.create_training_job(
            **script_job("other-1", upload_source(kiln, {"train.py": SLEEPER}))
        )
        wait_for_log(settings, "other-1", "started")
        other = settings.workspaces_dir / "other-1" / "algo-1" / "code" / "train.py"
        assert other.exists()
        environment = {
            "SERVER_PID": str(os.getpid()),
            "SERVER_HOME": str(settings.home),
            "DATABASE": database_url.removeprefix("sqlite:///"),
            "OTHER": str(other),
        }
        source = upload_source(kiln, {"train.py": ESCAPES})
        kiln.sagemaker.create_training_job(
            **script_job("escape-1", source, Environment=environment)
        )
        job = kiln.wait("escape-1")
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        report = json.loads(
            model_files(kiln, job["ModelArtifacts"]["S3ModelArtifacts"])["report.json"]
        )
        reached = {k: v for k, v in report.items() if v.startswith("REACHED")}
        assert reached == {}
        assert report["capabilities"] == "0000000000000000"
        assert report["no_new_privs"] == "1"
        assert not (settings.home / "pwned").exists()


def test_links_a_job_leaves_do_not_make_the_server_copy_its_files(kiln: Kiln) -> None:
    secret = kiln.settings.home / "credentials.json"
    script = f"""
import os, time
open("/opt/ml/checkpoints/real.pt", "w").write("weights")
os.symlink({str(secret)!r}, "/opt/ml/checkpoints/stolen.json")
os.symlink({str(secret)!r}, os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"))
time.sleep(3)  # past a checkpoint sync
raise SystemExit(1)
"""
    kiln.thread.kiln.objects.ensure_bucket("ckpt")
    request = script_job("links-1", upload_source(kiln, {"train.py": script}))
    request["CheckpointConfig"] = {"S3Uri": "s3://ckpt/links-1"}
    kiln.sagemaker.create_training_job(**request)
    job = kiln.wait("links-1")
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"].startswith("AlgorithmError: ExecuteUserScriptError")
    assert kiln.settings.credentials.secret_access_key not in job["FailureReason"]
    listed = kiln.s3.list_objects_v2(Bucket="ckpt", Prefix="links-1/")
    assert [o["Key"] for o in listed.get("Contents", [])] == ["links-1/real.pt"]


@pytest.mark.parametrize("sandbox", ["auto", "off"])
def test_setsid_grandchild_is_gone_when_the_job_ends(
    tmp_path: Path, database_url: str, sandbox: str
) -> None:
    if sandbox == "auto":
        _needs_bwrap()
    elif not _cgroups_writable():
        pytest.skip("without bwrap only cgroups find a detached grandchild")
    settings = make_settings(tmp_path / "home", database_url, KILN_SANDBOX=sandbox)
    kiln = start_kiln(settings)
    marker = f"kiln-marker-{uuid.uuid4().hex}"
    try:
        source = upload_source(kiln, {"train.py": GRANDCHILD})
        kiln.sagemaker.create_training_job(
            **script_job("setsid-1", source, Environment={"MARKER": marker})
        )
        job = kiln.wait("setsid-1")
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        wait_for_log(settings, "setsid-1", "detached grandchild")
        assert _processes_with(marker) == []
    finally:
        kiln.thread.stop()


def test_required_sandbox_without_bwrap_refuses_to_start(
    tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap on it
    settings = make_settings(tmp_path / "home", database_url, KILN_SANDBOX="required")
    with pytest.raises(SandboxUnavailableError, match="KILN_SANDBOX=required.*bubblewrap"):
        KilnServer(settings)


@pytest.mark.slow
def test_a_replica_cannot_redirect_the_router_to_another_socket(kiln: Kiln) -> None:
    # The replica's model_fn looks for a socket it could replace with a link to a host socket;
    # the server bound its socket outside the sandbox, so there is none to replace.
    inference = (
        "import os\n"
        "def model_fn(model_dir):\n"
        "    return sorted(p for p in os.listdir('/opt/ml') if p.endswith('.sock'))\n"
        "def predict_fn(data, model):\n"
        "    return {'sockets': model}\n"
    )
    model = upload_model(kiln, {"model.txt": "x", "code/inference.py": inference})
    deploy(kiln, "sockets", {"AllTraffic": (model, 1, 1.0)})
    answer = kiln.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="sockets", Body=b"{}", ContentType="application/json"
    )
    assert json.loads(answer["Body"].read()) == {"sockets": []}
