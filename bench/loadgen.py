"""Load and measurement for the serving benchmarks, as BENCHMARKING.md prescribes.

Servers start pinned to ``SERVER_CPU`` with ``taskset`` (their children inherit the mask), h2load
runs pinned to ``CLIENT_CPU``, closed loop over HTTP/1.1 keep-alive, and each run reports
req/s, p50/p99 latency from h2load's per-request log, and the CPU that the server's whole
process tree spent per request (utime + stime from ``/proc``, sampled through the run).
"""

from __future__ import annotations

import math
import os
import re
import signal
import statistics
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.ports import free_port as free_port  # re-exported for serving.py

SERVER_CPU = 1
CLIENT_CPU = 0
STOP_GRACE_S = 15.0
CPU_SAMPLE_S = 0.1
TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")


# -- processes: start pinned, watch their trees, stop them ----------------------------------------


def _children() -> dict[int, list[int]]:
    """Parent pid → child pids, for every process visible in /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def process_tree(root: int) -> list[int]:
    """``root`` and every descendant alive now."""
    tree, found, todo = _children(), [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(tree.get(pid, []))
    return found


def cpu_s(pids: Sequence[int]) -> list[float]:
    """User + system CPU seconds used so far by each of ``pids`` (0 for one that is gone)."""
    found = []
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            found.append(0.0)
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        found.append((int(fields[11]) + int(fields[12])) * TICK_S)
    return found


def _role(pid: int, root: int) -> str:
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        name = "gone"
    return "server" if pid == root else name


def placement(pids: Sequence[int]) -> dict[str, str]:
    """Each process's name and allowed CPUs, as the kernel sees them."""
    seen = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        seen[f"{pid} {fields.get('Name', '?').strip()}"] = fields["Cpus_allowed_list"].strip()
    return seen


@dataclass
class Launched:
    """A process this benchmark started, pinned to the server CPU, with its output in a file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    started: float

    def tail(self, lines: int = 15) -> str:
        """The last lines of its output."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        """RuntimeError, with the output's tail, if it has exited."""
        code = self.process.poll()
        if code is not None:
            raise RuntimeError(f"{self.name} exited with code {code}:\n{self.tail()}")


def launch(name: str, argv: list[str], log: Path, env: dict[str, str] | None = None) -> Launched:
    """Start ``argv`` under ``taskset -c SERVER_CPU`` in its own session; children inherit it."""
    with open(log, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            ["taskset", "-c", str(SERVER_CPU), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    return Launched(name, process, log, started)


def stop(launched: Launched) -> None:
    """SIGTERM, wait out the grace period, then SIGKILL every process left of its tree; reap."""
    process = launched.process
    if process.poll() is not None:
        return
    family = process_tree(process.pid)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        print(f"note: {launched.name} ignored SIGTERM for {STOP_GRACE_S:.0f} s; killing it")
    for pid in family:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=STOP_GRACE_S)


@dataclass(frozen=True)
class Timing:
    """How long each h2load run measures, after how long a warm-up on the same connections."""

    duration: float
    warm_up: float


# -- load: h2load, its per-request log, and the server's CPU --------------------------------------


def run_h2load(
    url: str,
    body: Path,
    concurrency: int,
    timing: Timing,
    root_pid: int,
    workdir: Path,
    headers: Sequence[str] = (),
) -> dict[str, Any]:
    """One closed-loop run: req/s, latencies, and CPU per request of ``root_pid``'s tree."""
    log = workdir / "h2load.tsv"
    log.unlink(missing_ok=True)  # h2load appends to its log
    argv = ["taskset", "-c", str(CLIENT_CPU), "h2load", "--h1", "-t1", f"-c{concurrency}", "-m1"]
    argv += [f"-D{timing.duration:g}", f"--warm-up-time={timing.warm_up:g}", f"--log-file={log}"]
    argv += ["-d", str(body), "-H", "Content-Type: application/json"]
    for header in headers:
        argv += ["-H", header]
    argv.append(url)
    pids = process_tree(root_pid)
    samples: list[tuple[float, list[float]]] = []
    done = threading.Event()
    sampler = threading.Thread(target=_sample_cpu, args=(pids, samples, done), daemon=True)
    sampler.start()
    try:
        finished = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timing.duration + timing.warm_up + 60,
            check=False,
        )
    finally:
        done.set()
        sampler.join(timeout=5)
    if finished.returncode != 0:
        raise RuntimeError(f"h2load failed ({finished.returncode}): {finished.stderr[-600:]}")
    cell = _cell(_parse_h2load(finished.stdout), _read_log(log), timing.duration)
    roles = [_role(pid, root_pid) for pid in pids]
    cell.update(_cpu_per_request(cell.pop("_window"), samples, roles))
    return cell


def _sample_cpu(
    pids: list[int], samples: list[tuple[float, list[float]]], done: threading.Event
) -> None:
    while True:
        samples.append((time.time(), cpu_s(pids)))
        if done.wait(CPU_SAMPLE_S):
            samples.append((time.time(), cpu_s(pids)))
            return


def _parse_h2load(out: str) -> dict[str, float]:
    found = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    counts = re.search(
        r"requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, "
        r"(\d+) errored, (\d+) timeout",
        out,
    )
    statuses = re.search(r"status codes: (\d+) 2xx", out)
    if not (found and counts and statuses):
        raise RuntimeError(f"cannot read h2load's summary:\n{out[-1500:]}")
    total, done, ok, failed, errored, timeout = (int(g) for g in counts.groups())
    return {
        "req_s": float(found.group(1)),
        "done": done,
        "succeeded": ok,
        "failed": failed + errored + timeout,
        "status_2xx": int(statuses.group(1)),
    }


def _read_log(path: Path) -> list[tuple[float, int, float]]:
    """(start s since epoch, status, duration s) per measured request."""
    rows = []
    for line in path.read_text().splitlines():
        start, status, micros = line.split("\t")[:3]
        rows.append((int(start) / 1e6, int(status), int(micros) / 1e6))
    return rows


def _percentile(ordered: list[float], p: float) -> float:
    return ordered[max(math.ceil(p / 100 * len(ordered)) - 1, 0)]


def _cell(
    summary: dict[str, float], requests: list[tuple[float, int, float]], duration: float
) -> dict[str, Any]:
    """Latencies of the requests sent in the measured window; those sent in the warm-up apart.

    h2load logs every request that *ends* after the warm-up, so the first requests of a run may
    have been sent during it. Its measured window ends at its last response and lasts
    ``duration``; requests sent before that window are warm-up stragglers, counted here apart.
    """
    if not requests:
        raise RuntimeError("h2load measured no requests")
    end = max(s + d for s, _status, d in requests)
    begin = end - duration
    sent = sorted(d for s, _status, d in requests if s >= begin)
    stragglers = [d for s, _status, d in requests if s < begin]
    bad = sum(1 for _s, status, _d in requests if status != 200)
    return {
        "req_s": summary["req_s"],
        "requests": len(requests),
        "errors": bad + int(summary["failed"]),
        "p50_ms": _percentile(sent, 50) * 1e3,
        "p99_ms": _percentile(sent, 99) * 1e3,
        "max_ms": sent[-1] * 1e3,
        "mean_ms": statistics.fmean(sent) * 1e3,
        "warm_up_stragglers": len(stragglers),
        "warm_up_straggler_max_ms": max(stragglers, default=0.0) * 1e3,
        "measured_s": duration,
        "_window": (begin, end, [s + d for s, _status, d in requests]),
    }


def _cpu_per_request(
    window: tuple[float, float, list[float]],
    samples: list[tuple[float, list[float]]],
    roles: list[str],
) -> dict[str, Any]:
    """CPU ms per request of the tree and of each process, between two samples in the window."""
    begin, end, ends = window
    inside = [(t, cpu) for t, cpu in samples if begin <= t <= end]
    if len(inside) < 2:
        raise RuntimeError("too few CPU samples inside the measured window: lengthen --duration")
    (t0, cpu0), (t1, cpu1) = inside[0], inside[-1]
    counted = max(sum(1 for e in ends if t0 < e <= t1), 1)
    spent = [b - a for a, b in zip(cpu0, cpu1, strict=True)]
    by_process: dict[str, float] = {}
    for role, seconds in zip(roles, spent, strict=True):
        by_process[role] = by_process.get(role, 0.0) + seconds / counted * 1e3
    return {
        "cpu_ms_per_request": sum(spent) / counted * 1e3,
        "cpu_ms_per_request_by_process": by_process,
        "cpu_busy": sum(spent) / (t1 - t0),
    }
