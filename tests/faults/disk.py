"""A full disk: KILN_HOME on a 64 MiB tmpfs (database, store, logs, workspaces all on it).

A job that writes until the disk refuses must still end (its status is written to the same
full disk), the space must come back when its workspace goes, what was stored before must stay,
and the server must go on working. An object too big for the store must be refused whole.
"""

from __future__ import annotations

import os
import time

from botocore.exceptions import BotoCoreError, ClientError

from . import jobs
from .lab import Lab
from .results import Outcome
from .tmpfs import free_mib
from .workloads import FILL_DISK, QUICK, sha256

TMPFS_MIB = 64
SLACK_MIB = 4.0  # what logs and the database may keep of a failure


def job_fills_the_disk(lab: Lab) -> Outcome:
    """A job writes until the disk is full; the server must end it and carry on."""
    home = lab.server.settings.home
    kept_uri, kept_digest = _kept_object(lab)
    before = jobs.start_job(lab, "faults-before", QUICK)
    jobs.ends(lab, before, "Completed")
    free_before = free_mib(home)
    with lab.pinger() as pinger:
        job = jobs.start_job(lab, "faults-filler", FILL_DISK)
        final = jobs.ends(lab, job, "Failed")
    lab.responsive(pinger)
    if final is not None:
        reason = final.get("FailureReason", "")
        lab.checks.expect(
            "No space left" in reason or "disk" in reason.lower(),
            "the FailureReason says the disk was full",
            reason[:200],
        )
    _space_back(lab, free_before)
    jobs.model_kept(lab, before, "Completed before the disk filled")
    lab.kept(kept_uri, kept_digest, "an object stored before the disk filled")
    jobs.completes(lab, "faults-after", QUICK)
    return lab.checks.outcome()


def object_beyond_free_space(lab: Lab) -> Outcome:
    """PutObject of more than the disk holds: refused whole, nothing else harmed."""
    home = lab.server.settings.home
    kept_uri, kept_digest = _kept_object(lab)
    free_before = free_mib(home)
    size = (TMPFS_MIB + 32) << 20
    try:
        lab.s3.put_object(Bucket="faults", Key="data/too-big.bin", Body=os.urandom(size))
        refused = "accepted"
    except (ClientError, BotoCoreError) as e:
        refused = f"refused: {type(e).__name__}: {str(e)[:120]}"
    lab.checks.expect(
        refused.startswith("refused"), "the store refuses an object bigger than its disk", refused
    )
    stored = lab.get("s3://faults/data/too-big.bin")
    lab.checks.expect(
        stored is None or len(stored) == size,
        "no truncated object is left in its place",
        "none" if stored is None else f"{len(stored)} of {size} bytes",
    )
    _space_back(lab, free_before)
    lab.kept(kept_uri, kept_digest, "an object stored before")
    jobs.completes(lab, "faults-after", QUICK)
    return lab.checks.outcome()


def _kept_object(lab: Lab) -> tuple[str, str]:
    body = os.urandom(1 << 20)
    return lab.put("data/kept.bin", body), sha256(body)


def _space_back(lab: Lab, free_before: float, within: float = 15.0) -> None:
    """Check that the free space returns to what it was, give or take ``SLACK_MIB``."""
    home = lab.server.settings.home
    deadline = time.monotonic() + within
    while free_mib(home) < free_before - SLACK_MIB and time.monotonic() < deadline:
        time.sleep(0.25)
    free = free_mib(home)
    lab.checks.expect(
        free >= free_before - SLACK_MIB,
        f"the space comes back within {within:.0f} s",
        f"{free:.1f} MiB free, {free_before:.1f} MiB before",
    )
