"""kill -9 of the server itself: mid-training, mid-upload, under invocation load, while an
endpoint is being created. Each time the server is started again on the same KILN_HOME and
ports, as an operator (or systemd) would, and what it held must come back: jobs end, endpoints
serve, models and objects are still there, nothing the dead server started lingers.
"""

from __future__ import annotations

import json
import os
import time

from . import endpoints, jobs
from .lab import BUCKET, Lab
from .load import tally
from .results import Outcome
from .workloads import BIG_MODEL, QUICK, SLOW_LOADING_INFERENCE, STEPPING, sha256

RESTART_PAUSE_S = 1.0  # between the crash and the restart: long enough to lose the port race


def kill_server_mid_training(lab: Lab) -> Outcome:
    """kill -9 while a job with checkpoints and one without train; restart."""
    kept_uri, kept_digest = _store_object(lab)
    before = jobs.start_job(lab, "faults-before", QUICK)
    jobs.ends(lab, before, "Completed")
    hps = {"steps": 8, "step_seconds": 1}
    checkpoints = f"s3://{BUCKET}/checkpoints/faults-resumable"
    resumable = jobs.start_job(
        lab, "faults-resumable", STEPPING, hyperparameters=hps, checkpoints=checkpoints
    )
    plain = jobs.start_job(lab, "faults-plain", STEPPING, hyperparameters=hps)
    checkpointed = lab.poll(lambda: _has_objects(lab, "checkpoints/faults-resumable/"), 90)
    if not lab.checks.expect(
        checkpointed is not None, "the resumable job checkpoints before the kill"
    ):
        return lab.checks.outcome()
    if not lab.checks.expect(
        jobs.wait_secondary(lab, plain, {"Training"}, 60) is not None,
        "both jobs are Training when the server is killed",
    ):
        return lab.checks.outcome()
    _crash_and_restart(lab)
    jobs.ends(lab, resumable, "Completed")
    files = jobs.model_kept(lab, resumable, "Completed after the restart")
    if files is not None and "model.json" in files:
        resumed = json.loads(files["model.json"])["resumed_from"]
        lab.checks.expect(
            resumed > 0, "the resumable job resumed from its checkpoint", f"from step {resumed}"
        )
    final = jobs.ends(lab, plain, "Failed")
    if final is not None:
        reason = final.get("FailureReason", "")
        lab.checks.expect(
            "restarted" in reason,
            "the job without checkpoints fails with a reason naming the restart",
            reason[:160],
        )
    jobs.model_kept(lab, before, "Completed before the kill")
    lab.kept(kept_uri, kept_digest, "an object stored before the kill")
    return lab.checks.outcome()


def kill_server_mid_upload(lab: Lab) -> Outcome:
    """kill -9 while a job uploads its model; restart: the model must not vanish."""
    mib = lab.profile.big_model_mib
    job = jobs.start_job(lab, "faults-uploading", BIG_MODEL, hyperparameters={"mib": mib})
    seen = jobs.wait_secondary(lab, job, {"Uploading", "Completed", "Failed"}, 180)
    caught = seen is not None and seen["SecondaryStatus"] == "Uploading"
    observed = "never seen" if seen is None else str(seen["SecondaryStatus"])
    if not lab.checks.expect(caught, "the job is Uploading when the server is killed", observed):
        return lab.checks.outcome()
    _crash_and_restart(lab)
    final = jobs.ends(lab, job)
    jobs.big_model_kept(lab, job, "it had reached Uploading when the server died", final)
    return lab.checks.outcome()


def kill_server_under_load(lab: Lab) -> Outcome:
    """kill -9 under invocation load on two replicas; restart; the endpoint must serve again."""
    name = "faults-crash-load"
    model = lab.model()
    model_digest = sha256(lab.get(model) or b"")
    endpoints.deploy(lab, name, model, 2)
    if endpoints.settles(lab, name, replicas=2) is None:
        return lab.checks.outcome()
    load = lab.load(name)
    lab.checks.expect(load.wait_ok(0.0, 20, 60), "the endpoint answers correctly under load")
    time.sleep(lab.profile.load_seconds)
    _crash_and_restart(lab)
    killed = lab.server.killed_at
    back = load.wait_ok(killed, 1, lab.profile.steady_within_s)
    served_again = min((s.started for s in load.sent if s.is_ok and s.started >= killed), default=0)
    lab.checks.expect(
        back,
        "invocations succeed again after the restart",
        f"{served_again - killed:.1f} s after the kill" if back else "never",
        counts="stuck",
    )
    endpoints.settles(lab, name, replicas=2)
    time.sleep(lab.profile.load_seconds)
    sent = load.stop()
    down_until = served_again if back else time.monotonic()
    lab.kept(model, model_digest, "the endpoint's model.tar.gz")
    return lab.checks.outcome(tally(sent, [(killed, down_until)]))


def kill_server_while_creating(lab: Lab) -> Outcome:
    """kill -9 while an endpoint's replica loads its model; restart: it must come InService."""
    name = "faults-crash-creating"
    model = lab.model({"code/inference.py": SLOW_LOADING_INFERENCE})
    endpoints.deploy(lab, name, model, 1)
    loading = lab.poll(lambda: _loading_replica(lab), 120, every=0.1)
    status = endpoints.describe(lab, name)
    creating = status is not None and status["EndpointStatus"] == "Creating"
    if not lab.checks.expect(
        loading is not None and creating, "a replica is loading while the endpoint is Creating"
    ):
        return lab.checks.outcome()
    _crash_and_restart(lab)
    if endpoints.settles(lab, name, replicas=1) is not None:
        load = lab.load(name, concurrency=1)
        lab.checks.expect(load.wait_ok(0.0, 5, 30), "the endpoint answers correctly")
        return lab.checks.outcome(tally(load.stop()))
    return lab.checks.outcome()


def _crash_and_restart(lab: Lab) -> None:
    left = lab.server.kill9()
    names = ", ".join(sorted({p.name for p in left})) or "nothing"
    lab.checks.note(f"server killed (-9); it left {len(left)} process(es) running: {names}")
    time.sleep(RESTART_PAUSE_S)
    if lab.restart():
        lab.leftovers_reaped()


def _store_object(lab: Lab) -> tuple[str, str]:
    body = os.urandom(1 << 20)
    return lab.put("data/kept.bin", body), sha256(body)


def _has_objects(lab: Lab, prefix: str) -> bool | None:
    listed = lab.call(lab.s3.list_objects_v2, Bucket=BUCKET, Prefix=prefix)
    return True if listed is not None and listed.get("KeyCount", 0) > 0 else None


def _loading_replica(lab: Lab) -> bool | None:
    tree = lab.server.snapshot()
    return True if any(endpoints.MODEL_SERVER in p.cmdline for p in tree) else None
