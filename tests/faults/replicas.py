"""Replica faults under invocation load: a replica killed (-9) or hung (SIGSTOP).

With two replicas Kiln promises continuity: a request the dead replica never answered is
retried on the other, a hung one leaves the route when its pings fail and is replaced. So every
request must get its right answer; any other outcome is a failed request.
"""

from __future__ import annotations

import signal
import time

from .endpoints import deploy, replaced, replica_ids, replica_process, settles
from .lab import Lab
from .load import Load, tally
from .procs import Proc
from .results import Outcome

REPLICAS = 2


def kill_replica_under_load(lab: Lab) -> Outcome:
    """kill -9 one of two replicas under load (the long profile: three times in a row)."""
    return _under_load(lab, "faults-kill-replica", signal.SIGKILL, "killed (-9)")


def hang_replica_under_load(lab: Lab) -> Outcome:
    """SIGSTOP one of two replicas under load: it answers nothing and never exits."""
    return _under_load(lab, "faults-hang-replica", signal.SIGSTOP, "hung (SIGSTOP)")


def _under_load(lab: Lab, name: str, sig: int, done: str) -> Outcome:
    deploy(lab, name, lab.model(), REPLICAS)
    if settles(lab, name, replicas=REPLICAS) is None:
        return lab.checks.outcome()
    load = lab.load(name)
    lab.checks.expect(load.wait_ok(0.0, 20, 60), "the endpoint answers correctly under load")
    time.sleep(lab.profile.load_seconds)
    for _ in range(lab.profile.repeats):
        if not _strike(lab, name, load, sig, done):
            break
        time.sleep(lab.profile.load_seconds)
    requests = tally(load.stop())
    settles(lab, name, replicas=REPLICAS)
    return lab.checks.outcome(requests)


def _strike(lab: Lab, name: str, load: Load, sig: int, done: str) -> bool:
    """Signal one replica's model server and check it is replaced; whether the fault went on."""
    ids = replica_ids(lab, name) or []
    victim = replica_process(lab, ids[0]) if ids else None
    if not lab.checks.expect(
        victim is not None, "found a replica's model server process", f"replicas {ids}"
    ):
        return False
    assert victim is not None
    victim.signal(sig)
    struck = time.monotonic()
    lab.checks.note(f"replica {ids[0]} (pid {victim.pid}) {done} under load")
    seconds = replaced(lab, name, ids[0], REPLICAS)
    lab.checks.expect(
        seconds is not None,
        f"the {done.split()[0]} replica is replaced, {REPLICAS} serve again",
        "not within the bound" if seconds is None else f"after {seconds:.1f} s",
        counts="stuck",
    )
    served = load.ok_count(struck)
    lab.checks.expect(
        served > 0,
        "the other replica kept answering meanwhile",
        f"{served} correct answers since the fault",
    )
    return _ended(lab, victim) and seconds is not None


def _ended(lab: Lab, victim: Proc, within: float = 10.0) -> bool:
    """Check that the struck process is gone (a hung one must be killed, not left stopped)."""
    deadline = time.monotonic() + within
    while victim.is_alive() and time.monotonic() < deadline:
        time.sleep(0.1)
    return lab.checks.expect(
        not victim.is_alive(),
        "the struck replica's process has ended",
        f"pid {victim.pid} {'still runs' if victim.is_alive() else 'is gone'}",
    )
