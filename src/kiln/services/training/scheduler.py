"""The training scheduler: a capacity-aware FIFO queue of jobs, and the restart rule.

Jobs start in creation order when their instances fit beside the running ones (strict FIFO: a
large job at the head is never starved by smaller ones behind it). A job that asks for more than
the whole machine counts as asking for all of it (``capacity.clamp``): it runs alone rather than
never. Each running job has a ``TrainingRunner`` on its own thread.

Restart rule (``recover``, before the scheduler starts): a job that was running when the
previous server ended — its processes are killed if any survive, with their cgroups — resumes
from its checkpoints when it has a ``CheckpointConfig`` (SecondaryStatus ``Restarting``, then
queued again); without one it is ``Failed`` with a reason that says so. A job that was
``Stopping`` becomes ``Stopped``. Jobs that were only queued stay queued.

While the server runs, ``sweep`` (called by the sweeper) ends a launched job whose runner is
gone without recording its end (``sweeping.job_decision``). No job stays ``InProgress`` forever.

Several servers on one database (``Ownership``; docs/scale-out-servers.md): a server claims a
job in the database before it launches it (exactly one wins), and recovers and sweeps only its
own jobs. ``take_over`` applies the restart rule to the running jobs of servers whose leases
ran out (without killing their processes: they ran on another machine, or stopped when their
server fenced itself). A fenced server (``fence``) launches nothing and interrupts its jobs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from functools import partial
from typing import Protocol

from kiln.compute.base import ProcessHandle
from kiln.compute.leftovers import reap_group
from kiln.db import TrainingJobRecord, TrainingJobStore
from kiln.pidfiles import PidRecord, is_ours
from kiln.services.capacity import NOTHING, Demand, clamp, fits
from kiln.services.cluster.leases import is_orphaned
from kiln.services.sweeping import JobEnding, JobView, job_decision
from kiln.services.training.kept_workspaces import KeptWorkspace
from kiln.services.training.states import transition

log = logging.getLogger(__name__)

RESTART_FAILURE = (
    "The Kiln server restarted while this job was running, and the job has no CheckpointConfig "
    "to resume from. Create it again (add CheckpointConfig to make jobs survive restarts)."
)


def takeover_failure(server: str) -> str:
    """Why a job of the dead ``server`` failed when another took it over."""
    return (
        f"The Kiln server {server} that ran this job stopped renewing its lease (it died or lost "
        "the database), and the job has no CheckpointConfig to resume from. Create it again "
        "(add CheckpointConfig to make jobs survive the loss of a server)."
    )


class Ownership(Protocol):
    """What the scheduler needs of the server's lease (``cluster.heartbeat.LeaseKeeper``)."""

    server_id: str

    def is_live(self) -> bool:
        """Whether this server's lease runs (it may launch work)."""

    def claim_job(self, name: str) -> bool:
        """Make this server the job's owner in the database; whether it won."""

    def live_servers(self) -> frozenset[str]:
        """The servers whose leases run now."""


class Runner(Protocol):
    """What the scheduler needs of a job runner."""

    name: str

    def run(self) -> None:
        """Run the job to its end."""

    def request_stop(self) -> None:
        """Stop the job."""

    def interrupt(self) -> None:
        """End the job's processes for a server shutdown."""


KeepModel = Callable[[str], KeptWorkspace | None]
Attach = Callable[[str], ProcessHandle | None]
RunnerFactory = Callable[[TrainingJobRecord], Runner]
DemandOf = Callable[[TrainingJobRecord], Demand]


class TrainingScheduler:
    """Starts queued jobs as capacity allows; stops and interrupts running ones."""

    def __init__(
        self,
        store: TrainingJobStore,
        make_runner: RunnerFactory,
        demand_of: DemandOf,
        capacity: Demand,
        attach: Attach | None = None,
        ownership: Ownership | None = None,
    ) -> None:
        self._attach = attach
        self._store = store
        self._ownership = ownership
        self._make_runner = make_runner
        self._demand_of = demand_of
        self._capacity = capacity
        self._wakeup = threading.Condition()
        self._woken = False
        self._should_exit = False
        self._running: dict[str, tuple[Runner, Demand, threading.Thread]] = {}
        self._crashes: dict[str, str] = {}
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start scheduling (after ``recover``)."""
        self._thread = threading.Thread(target=self._loop, name="kiln-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Interrupt running jobs (they wait for the restart rule) and stop scheduling."""
        with self._wakeup:
            self._should_exit = True
            runners = [entry for entry in self._running.values()]
            self._wakeup.notify_all()
        for runner, _demand, _thread in runners:
            runner.interrupt()
        for _runner, _demand, thread in runners:
            thread.join(timeout=60)
        if self._thread is not None:
            self._thread.join(timeout=10)

    def wake(self) -> None:
        """Look at the queue again."""
        with self._wakeup:
            self._woken = True
            self._wakeup.notify_all()

    def request_stop(self, name: str) -> None:
        """Stop a running job, or end a queued one as Stopped (one another server runs stops
        there: its scheduler sees the status ``Stopping``)."""
        with self._wakeup:
            entry = self._running.get(name)
            if entry is None:
                self._store.modify(name, partial(_stop_queued, self._me))
                return
        entry[0].request_stop()

    @property
    def _me(self) -> str | None:
        return None if self._ownership is None else self._ownership.server_id

    def _is_mine(self, record: TrainingJobRecord) -> bool:
        """Whether this server recovers and sweeps ``record`` (it, or no server, owns it)."""
        return record.owner is None or record.owner == self._me

    def fence(self) -> None:
        """This server lost its lease: interrupt every job (it waits for the restart rule, here
        or on the server that takes it over)."""
        with self._wakeup:
            runners = list(self._running.values())
        for runner, _demand, _thread in runners:
            runner.interrupt()
        for _runner, _demand, thread in runners:
            thread.join(timeout=60)

    def take_over(self) -> int:
        """Apply the restart rule to the running jobs whose servers' leases ran out; how many."""
        if self._ownership is None or not self._ownership.is_live():
            return 0
        live, me = self._ownership.live_servers(), self._ownership.server_id
        taken: list[str] = []
        for record in self._store.with_status(["InProgress", "Stopping"]):
            if record.owner is not None and is_orphaned(record.owner, live, me):
                self._store.modify(record.name, partial(_taken_over, record.owner, taken))
        if taken:
            self.wake()
        return len(taken)

    def running(self) -> list[str]:
        """Names of the jobs running now."""
        with self._wakeup:
            return list(self._running)

    def recover(self, keep_model: KeepModel | None = None) -> None:
        """The restart rule (see the module docstring); ``keep_model`` keeps the workspace of a
        job that was uploading, the only copy of what it trained."""
        running = set(self.running())
        for record in self._store.with_status(["InProgress", "Stopping"]):
            kiln_state = record.state.get("kiln", {})
            if not kiln_state.get("launched") or not self._is_mine(record):
                continue
            if record.name in running:
                continue
            _kill_leftovers(kiln_state, self._attach)
            kept = None
            if record.secondary_status == "Uploading" and keep_model is not None:
                kept = keep_model(record.name)
            self._store.modify(record.name, partial(_recovered, kept))

    def sweep(self) -> None:
        """End the launched jobs no runner of this server runs any more."""
        if self._ownership is not None and not self._ownership.is_live():
            return  # fenced: what lost its runner waits for the restart rule instead
        before = set(self.running())
        records = self._store.with_status(["InProgress", "Stopping"])
        after = set(self.running())
        for record in records:
            if not self._is_mine(record):
                continue
            with self._wakeup:
                crash = self._crashes.get(record.name)
            view = JobView(
                record.name,
                record.status,
                bool(record.state.get("kiln", {}).get("launched")),
                record.name in before | after,
                crash,
            )
            ending = job_decision(view)
            if ending is not None:
                log.warning("training job %s: no runner; ending it %s", record.name, ending)
                self._store.modify(record.name, partial(_end_orphan, ending))

    def _loop(self) -> None:
        while True:
            with self._wakeup:
                if not self._woken and not self._should_exit:
                    self._wakeup.wait(timeout=5.0)
                self._woken = False
                if self._should_exit:
                    return
                try:
                    self._schedule()
                except Exception:  # e.g. a full disk: the queue is looked at again in 5 s
                    log.exception("training scheduler: scheduling failed")

    def _schedule(self) -> None:
        if self._ownership is not None and not self._ownership.is_live():
            return  # fenced: launch nothing another server may take over
        used = sum((demand for _r, demand, _t in self._running.values()), NOTHING)
        for record in self._store.with_status(["InProgress", "Stopping"]):
            if record.status == "Stopping":
                self._pass_stop(record)
                continue
            if record.name in self._running or record.state.get("kiln", {}).get("launched"):
                continue
            if not self._is_mine(record):
                continue  # another server claimed it; it does not hold up this queue
            demand = clamp(self._demand_of(record), self._capacity)
            if not fits(demand, used, self._capacity):
                self._mark_pending(record, demand, used)
                return  # strict FIFO: nothing overtakes the head of the queue
            if self._ownership is not None and not self._ownership.claim_job(record.name):
                continue  # another server won it
            self._launch(record, demand)
            used = used + demand

    def _pass_stop(self, record: TrainingJobRecord) -> None:
        """A StopTrainingJob that reached another server: stop the runner here, if any."""
        entry = self._running.get(record.name)
        if entry is not None:
            entry[0].request_stop()

    def _launch(self, record: TrainingJobRecord, demand: Demand) -> None:
        runner = self._make_runner(record)
        thread = threading.Thread(
            target=self._run, args=(runner,), name=f"kiln-job-{record.name}", daemon=True
        )
        self._running[record.name] = (runner, demand, thread)
        thread.start()

    def _run(self, runner: Runner) -> None:
        """The job thread: run, and note what the runner died of, if it died, for ``sweep``."""
        crash = None
        try:
            runner.run()
        except Exception as e:
            log.exception("training job %s: its runner failed", runner.name)
            crash = f"{type(e).__name__}: {e}"
        with self._wakeup:
            if crash is not None:
                self._crashes[runner.name] = crash
            # Only now, with the crash noted: sweep must never see the job without either.
            self._running.pop(runner.name, None)
            self._woken = True
            self._wakeup.notify_all()

    def _mark_pending(self, record: TrainingJobRecord, demand: Demand, used: Demand) -> None:
        if record.secondary_status == "Pending":
            return
        message = (
            f"Waiting for capacity: needs {demand.vcpus} vCPUs and {demand.memory_mib} MiB; "
            f"{self._capacity.vcpus - used.vcpus} vCPUs and "
            f"{self._capacity.memory_mib - used.memory_mib} MiB free"
        )
        self._store.modify(record.name, partial(_pending, self._me, message))


def _pending(me: str | None, message: str, record: TrainingJobRecord) -> None:
    """Waiting for capacity, unless another server claimed or launched it since it was read."""
    is_taken = record.owner is not None and record.owner != me
    if is_taken or record.status != "InProgress" or record.state.get("kiln", {}).get("launched"):
        return
    transition(record, "Pending", message)


def _stop_queued(me: str | None, record: TrainingJobRecord) -> None:
    is_elsewhere = record.owner is not None and record.owner != me
    if is_elsewhere and record.state.get("kiln", {}).get("launched"):
        return  # its server's scheduler sees Stopping and stops it
    if record.status in ("InProgress", "Stopping"):
        transition(record, "Stopped")


def _taken_over(dead: str, taken: list[str], record: TrainingJobRecord) -> None:
    """The restart rule for a job of the dead server ``dead``, if it is still that one's."""
    if record.owner != dead or record.status not in ("InProgress", "Stopping"):
        return  # another server took it first, or it ended meanwhile
    taken.append(record.name)
    record.owner = None  # queued again, for any server; or ended
    if not record.state.get("kiln", {}).get("launched"):
        return
    log.warning(
        "training job %s: taken over from server %s, whose lease ran out", record.name, dead
    )
    _recovered(
        None, record, f"Kiln server {dead} stopped renewing its lease", takeover_failure(dead)
    )


def _recovered(
    kept: KeptWorkspace | None,
    record: TrainingJobRecord,
    cause: str = "Kiln server restarted",
    failure: str = RESTART_FAILURE,
) -> None:
    if record.status == "Stopping":
        transition(record, "Stopped", f"Stopped: the {cause} while the job stopped")
    elif record.spec.get("CheckpointConfig"):
        record.state["kiln"] = {"restarts": record.state.get("kiln", {}).get("restarts", 0) + 1}
        transition(
            record,
            "Restarting",
            f"{cause}: the job resumes from its checkpoints in "
            f"{record.spec['CheckpointConfig']['S3Uri']}",
        )
    else:
        record.state["FailureReason"] = failure
        if kept is not None and record.secondary_status == "Uploading":
            kept.record_in(record.state)
            record.state["FailureReason"] = f"{failure} {kept.note()}"
        transition(record, "Failed", "Training job failed")
        record.state["TrainingEndTime"] = record.end_time


def _end_orphan(ending: JobEnding, record: TrainingJobRecord) -> None:
    if record.status != ending.status or not record.state.get("kiln", {}).get("launched"):
        return  # it ended, or was recovered, after the sweeper looked
    if ending.reason:
        record.state["FailureReason"] = ending.reason
    transition(record, ending.secondary, ending.reason and "Training job failed")
    record.state["TrainingEndTime"] = record.end_time


def _kill_leftovers(kiln_state: dict[str, object], attach: Attach | None) -> None:
    """Stop the processes a crashed server left behind, if they are still this job's."""
    refs = kiln_state.get("refs", [])
    if isinstance(refs, list) and attach is not None:
        for ref in refs:
            leftover = attach(str(ref))
            if leftover is not None:
                log.warning("stopping a job's process a previous server left: %s", ref)
                leftover.stop(0)
                leftover.release()
    # Jobs a server before the compute seam launched name their process groups.
    workspace = str(kiln_state.get("workspace", ""))
    pgids = kiln_state.get("pgids", [])
    if not workspace or not isinstance(pgids, list):
        return
    for pgid in pgids:
        reap_group(int(pgid), partial(is_ours, PidRecord(int(pgid), None, workspace)))
