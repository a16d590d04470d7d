"""The embedded store (rclone) killed with -9 mid-transfer: while a job downloads its channel,
while a job uploads its model, while a replica downloads its model. The server restarts the
store; transfers must retry through the gap, and nothing stored may be lost.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

from . import endpoints, jobs
from .lab import BUCKET, Lab
from .load import tally
from .procs import Proc
from .results import Outcome
from .workloads import BIG_MODEL, DIGEST_CHANNEL, sha256

PART_MIB = 8


def kill_store_mid_download(lab: Lab) -> Outcome:
    """kill -9 the store while a job downloads its channel."""
    prefix = f"data/{uuid.uuid4().hex}/"
    digests = {}
    for i in range(lab.profile.channel_files):
        body = os.urandom(PART_MIB << 20)
        digests[f"part-{i:03}"] = sha256(body)
        lab.put(f"{prefix}part-{i:03}", body)
    job = jobs.start_job(
        lab, "faults-downloading", DIGEST_CHANNEL, channel=f"s3://{BUCKET}/{prefix}"
    )
    folder = lab.server.settings.workspaces_dir / job / "algo-1" / "input" / "data" / "train"
    started = lab.poll(lambda: _some_files(folder), 120, every=0.02)
    if not lab.checks.expect(started is not None, "the job is downloading its channel"):
        return lab.checks.outcome()
    done = _whole_files(folder)
    _kill_store(lab, f"with {done} of {len(digests)} channel files downloaded")
    final = jobs.ends(lab, job, "Completed")
    files = jobs.model_kept(lab, job, "Completed") if final else None
    if files is not None and "digests.json" in files:
        seen = json.loads(files["digests.json"])
        lab.checks.expect(
            seen == digests,
            "the job read every channel file whole",
            f"{sum(seen.get(k) == v for k, v in digests.items())} of {len(digests)} intact",
        )
    for key, digest in list(digests.items())[:3]:
        lab.kept(f"s3://{BUCKET}/{prefix}{key}", digest, f"channel object {key}")
    return lab.checks.outcome()


def kill_store_mid_upload(lab: Lab) -> Outcome:
    """kill -9 the store while a job uploads its model."""
    mib = lab.profile.big_model_mib
    job = jobs.start_job(lab, "faults-store-upload", BIG_MODEL, hyperparameters={"mib": mib})
    landing = lab.server.settings.storage_dir / BUCKET / "output" / job / "output"
    uploading = lab.poll(lambda: _in_transit(landing), 240, every=0.01)
    if not lab.checks.expect(uploading is not None, "the store is receiving the model"):
        return lab.checks.outcome()
    _kill_store(lab, "while it receives the job's model.tar.gz")
    final = jobs.ends(lab, job, "Completed")
    jobs.big_model_kept(lab, job, "it reached Uploading", final)
    return lab.checks.outcome()


def kill_store_while_replica_downloads(lab: Lab) -> Outcome:
    """kill -9 the store while a replica downloads its model; the endpoint must come up."""
    name = "faults-store-replica"
    padding = os.urandom(lab.profile.big_model_mib << 20)
    model = lab.model({"padding.bin": padding})
    digest = sha256(lab.get(model) or b"")
    endpoints.deploy(lab, name, model, 1)
    replicas = lab.server.settings.run_dir / "replicas"
    partial = lab.poll(lambda: _downloading(replicas), 120, every=0.02)
    if not lab.checks.expect(partial is not None, "the replica is downloading its model"):
        return lab.checks.outcome()
    _kill_store(lab, "as the replica downloads its model")
    if endpoints.settles(lab, name, replicas=1) is not None:
        load = lab.load(name, concurrency=1)
        lab.checks.expect(load.wait_ok(0.0, 5, 30), "the endpoint answers correctly")
        lab.kept(model, digest, "the model.tar.gz")
        return lab.checks.outcome(tally(load.stop()))
    lab.kept(model, digest, "the model.tar.gz")
    return lab.checks.outcome()


def _kill_store(lab: Lab, when: str) -> None:
    """kill -9 rclone and check that the server brings the store back."""
    rclone = _rclone(lab)
    if not lab.checks.expect(rclone is not None, "found the embedded store's process"):
        return
    assert rclone is not None
    rclone.kill()
    lab.checks.note(f"store (rclone, pid {rclone.pid}) killed (-9) {when}")
    killed = time.monotonic()
    back = lab.poll(lambda: _answers(lab), 30, every=0.1)
    lab.checks.expect(
        back is not None,
        "the server restarts the store",
        f"answering again after {time.monotonic() - killed:.1f} s" if back else "not within 30 s",
    )


def _rclone(lab: Lab) -> Proc | None:
    return next((p for p in lab.server.snapshot() if p.name == "rclone"), None)


def _answers(lab: Lab) -> bool | None:
    return True if lab.call(lab.s3.head_bucket, Bucket=BUCKET) is not None else None


def _some_files(folder: Path) -> bool | None:
    try:
        return True if any(folder.iterdir()) else None
    except OSError:
        return None


def _whole_files(folder: Path) -> int:
    try:
        return sum(1 for p in folder.iterdir() if not p.name.endswith(".part"))
    except OSError:
        return 0


def _in_transit(folder: Path) -> bool | None:
    """Whether the store is writing an object into ``folder`` (rclone's temporary names)."""
    try:
        names = [p.name for p in folder.iterdir()]
    except OSError:
        return None
    return (
        True if any(n.startswith(".rclone_temp") or n.endswith(".partial") for n in names) else None
    )


def _downloading(replicas: Path) -> bool | None:
    try:
        return True if any(replicas.glob("*/.model.tar.gz.part*")) else None
    except OSError:
        return None
