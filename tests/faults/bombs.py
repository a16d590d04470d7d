"""Bombs: a tar bomb as a job's source and as an endpoint's model, a fork bomb, a memory bomb.

Each must end its job or endpoint with a reason that names the limit it hit, without filling
the disk, the process table or the memory the server needs, and leave no process behind.
"""

from __future__ import annotations

import os
import time

from conftest import tar_bomb

from . import endpoints, jobs
from .lab import Lab
from .results import Outcome
from .watch import CountPeak, FolderPeak
from .workloads import FORK_BOMB, MEMORY_BOMB, MEMORY_BOMB_INFERENCE

GIB = 1 << 30
BOMB_BYTES = 3 * GIB // 2  # 1.5 MB of gzip that expands to 1.5 GiB
VOLUME_GB = 1
PIDS_MAX = 64
MEMORY_MIB = 256


def tar_bomb_source(lab: Lab) -> Outcome:
    """A sourcedir.tar.gz that expands to 1.5 GiB, for a job with VolumeSizeInGB=1."""
    source = lab.put("code/bomb/sourcedir.tar.gz", tar_bomb(BOMB_BYTES))
    name = "faults-tar-bomb"
    request = jobs.job_request(name, source, volume_gb=VOLUME_GB)
    workspace = lab.server.settings.workspaces_dir / name
    with lab.pinger() as pinger, FolderPeak(workspace) as peak:
        lab.sagemaker.create_training_job(**request)
        final = jobs.ends(lab, name, "Failed")
    lab.responsive(pinger)
    if final is not None:
        _reason_names(lab, final.get("FailureReason", ""), "VolumeSizeInGB")
    _never_beyond(lab, peak.peak, "the job's workspace")
    removed = lab.poll(lambda: None if workspace.exists() else True, 30)
    lab.checks.expect(removed is not None, "the job's workspace is removed after it ends")
    return lab.checks.outcome()


def tar_bomb_model(lab: Lab) -> Outcome:
    """A model.tar.gz that expands to 1.5 GiB, for a variant with VolumeSizeInGB=1."""
    model = lab.put("models/bomb/model.tar.gz", tar_bomb(BOMB_BYTES))
    name = "faults-model-bomb"
    replicas = lab.server.settings.run_dir / "replicas"
    with lab.pinger() as pinger, FolderPeak(replicas) as peak:
        endpoints.deploy(lab, name, model, 1, volume_gb=VOLUME_GB)
        final = endpoints.settles(lab, name, expected="Failed")
    lab.responsive(pinger)
    if final is not None:
        _reason_names(lab, final.get("FailureReason", ""), "VolumeSizeInGB")
    _never_beyond(lab, peak.peak, "the replicas' folders")
    return lab.checks.outcome()


def fork_bomb(lab: Lab) -> Outcome:
    """A job forks until it cannot (KILN_PIDS_MAX=64); half its children call setsid."""
    marker = lab.marker()
    most = 400 if lab.profile.name == "short" else 1000
    hps = {"marker": marker, "most": most}
    with lab.pinger() as pinger, CountPeak(lambda: len(lab.marked(marker))) as peak:
        job = jobs.start_job(lab, "faults-fork-bomb", FORK_BOMB, hyperparameters=hps)
        final = jobs.ends(lab, job, "Failed")
    lab.responsive(pinger)
    if final is not None:
        reason = final.get("FailureReason", "")
        lab.checks.expect(
            "fork failed after" in reason,
            f"the bomb hit the process limit (KILN_PIDS_MAX={PIDS_MAX})",
            _first_line_with(reason, "fork") + f"; peak {peak.peak} processes",
        )
    _none_left(lab, marker)
    return lab.checks.outcome()


def memory_bomb(lab: Lab) -> Outcome:
    """A job and a model server allocate until killed (KILN_CAPACITY_MEMORY_MIB=256)."""
    with lab.pinger() as pinger:
        job = jobs.start_job(lab, "faults-memory-bomb", MEMORY_BOMB)
        final = jobs.ends(lab, job, "Failed")
        name = "faults-memory-bomb"
        endpoints.deploy(lab, name, lab.model({"code/inference.py": MEMORY_BOMB_INFERENCE}), 1)
        endpoint = endpoints.settles(lab, name, expected="Failed")
    lab.responsive(pinger)
    if final is not None:
        _reason_names(lab, final.get("FailureReason", ""), "out of memory")
    if endpoint is not None:
        _reason_names(lab, endpoint.get("FailureReason", ""), "out of memory")
    lab.checks.expect(lab.server.is_running(), "the server itself survived")
    return lab.checks.outcome()


def cgroups_missing() -> str | None:
    """Why process and memory limits cannot hold here, or None where cgroups are writable."""
    writable = os.access("/sys/fs/cgroup/pids", os.W_OK) or os.access(
        "/sys/fs/cgroup/cgroup.subtree_control", os.W_OK
    )
    return None if writable else "cgroups are not writable here: Kiln cannot set its limits"


def _reason_names(lab: Lab, reason: str, cause: str) -> None:
    lab.checks.expect(
        cause.lower() in reason.lower(),
        f"the FailureReason names the cause ({cause})",
        reason[:220].replace("\n", " "),
    )


def _never_beyond(lab: Lab, peak: int, where: str) -> None:
    lab.checks.expect(
        peak <= VOLUME_GB * GIB,
        f"the bomb never took more than VolumeSizeInGB={VOLUME_GB} of disk in {where}",
        f"peak {peak / GIB:.2f} GiB",
    )


def _none_left(lab: Lab, marker: str, within: float = 10.0) -> None:
    """Check that no process the bomb forked outlives its job."""
    deadline = time.monotonic() + within
    while (left := lab.marked(marker)) and time.monotonic() < deadline:
        time.sleep(0.25)
    lab.checks.expect(
        not left,
        f"no process of the bomb outlives its job by {within:.0f} s",
        f"{len(left)} still running (killed now, by pid)" if left else "none left",
    )
    for p in left:
        p.kill()


def _first_line_with(text: str, word: str) -> str:
    return next((line for line in text.splitlines() if word in line), text[:120])[:160]
