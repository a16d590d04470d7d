"""``serving.py --lean``: issue 9's serving targets, each printed with its verdict.

One ``kiln server`` with two endpoints of the serving workload v1, ``lean-off``
(``KILN_BATCHING=off``) and ``lean-on`` (the default: micro-batching on), beside the raw floor
(``raw_asgi.py``, unchanged: one request at a time, predict inline). Interleaved per cell, the
order rotating, repeated; every ratio is taken within one repetition:

- 1 row, c=1:  ``lean-off`` ÷ raw (target ≥ 0.95);
- 1 row, c=64: ``lean-on`` ÷ raw (target ≥ 8: the raw floor predicts one row per call);
- router CPU per request: the ``kiln server`` process's utime + stime over the c=1 runs of
  ``lean-off`` ÷ requests (the replica's own CPU is not in it; target ≤ 100 µs);
- PSS of one endpoint with one replica: ``lean-on`` deleted after the load, then the sum of
  ``/proc/<pid>/smaps_rollup`` Pss over the server's whole tree (server, rclone, the replica and
  its bwrap; target ≤ 250 MB), the idle warm spare waiting for the next replica printed apart;
- the batching dispatcher's cost to an idle request: in process, on the server CPU, one lone
  1-row request through ``BatchingDispatcher`` − through ``InlineDispatcher`` on a uvloop loop
  (median of alternating rounds; target ≤ 50 µs).
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
from loadgen import SERVER_CPU, Timing, process_tree

from kiln.compute.local import LocalRef

TARGET_C1_RATIO = 0.95
TARGET_C64_RATIO = 8.0
TARGET_ROUTER_CPU_US = 100.0
TARGET_PSS_MB = 250.0
TARGET_IDLE_US = 50.0


def pss_mb(pids: list[int]) -> dict[str, float]:
    """Each process's proportional set size in MB (10^6 bytes), by ``pid command``."""
    found = {}
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/smaps_rollup").read_text()
            command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue  # gone meanwhile
        for line in text.splitlines():
            if line.startswith("Pss:"):
                found[f"{pid} {command[:60]}"] = int(line.split()[1]) * 1024 / 1e6
                break
    return found


def _spare_trees(pid_files: Path) -> list[int]:
    """The processes of the warm spares waiting now (pid files ``spare-*``), with descendants."""
    found = []
    for path in pid_files.glob("spare-*.json"):
        ref = LocalRef.load(path.read_text())  # the file holds the spare's handle's ref
        if ref is not None:
            found += process_tree(ref.pid)
    return found


def _pid(process: str) -> int:
    return int(process.split(" ", 1)[0])


class _Constant:
    """A stand-in model answering 0 per row in ~1 µs: the forest's 1.5–5 ms predict would bury
    a few µs of dispatch under its own noise, and it is the same call on both paths."""

    def predict(self, rows: Any) -> Any:
        return np.zeros(len(rows), dtype=np.int64)


def idle_request_cost_us(body: bytes, rounds: int = 21, calls: int = 2000) -> dict[str, float]:
    """One lone request through the batching and the inline dispatcher: µs per request each."""
    import uvloop

    from kiln.runtime.batch_settings import BatchSettings
    from kiln.runtime.batching import BatchingDispatcher
    from kiln.runtime.handlers import Handlers, Predictor
    from kiln.runtime.model_server import InlineDispatcher

    predictor = Predictor(Handlers(), _Constant(), {"model_dir": "/opt/ml/model", "gpu_id": 0})
    dispatchers: dict[str, Callable[..., Any]] = {
        "inline": InlineDispatcher(predictor),
        "batching": BatchingDispatcher(predictor, BatchSettings()),
    }

    async def per_call(dispatch: Callable[..., Any]) -> float:
        started = time.perf_counter()
        for _ in range(calls):
            await dispatch(body, "application/json", None, None, None)
        return (time.perf_counter() - started) / calls * 1e6

    async def run() -> dict[str, list[float]]:
        found: dict[str, list[float]] = {name: [] for name in dispatchers}
        for dispatch in dispatchers.values():
            await per_call(dispatch)  # warm
        for i in range(rounds):
            order = list(dispatchers) if i % 2 == 0 else list(reversed(dispatchers))
            for name in order:
                found[name].append(await per_call(dispatchers[name]))
        return found

    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {SERVER_CPU})
    try:
        found = uvloop.run(run())
    finally:
        os.sched_setaffinity(0, previous)
    extra = [b - i for b, i in zip(found["batching"], found["inline"], strict=True)]
    return {
        "inline_us": statistics.median(found["inline"]),
        "batching_us": statistics.median(found["batching"]),
        "extra_us": statistics.median(extra),
    }


def measure_lean(workload: Any, workdir: Path, timing: Timing, repeat: int) -> bool:
    """Run the lean cells and print each target's verdict; whether all hold."""
    import serving

    ratios: dict[str, list[float]] = {"c1": [], "c64": []}
    rates: dict[str, list[float]] = {"off_c1": [], "raw_c1": [], "on_c64": [], "raw_c64": []}
    router_us: list[float] = []
    with ExitStack() as stack:
        kiln = serving.start_kiln(workload, workdir, stack, "home-lean")
        targets = {}
        stack.callback(serving.undeploy, kiln, "lean-off")
        for label, env in (("off", serving.UNBATCHED), ("on", None)):
            targets[label] = serving.deploy(kiln, workload, f"lean-{label}", env)
        targets["raw"] = serving.start_raw(workload, workdir, stack)
        for rep in range(repeat):
            for step, (concurrency, kiln_label) in enumerate(((1, "off"), (64, "on"))):
                cell = {}
                for name in serving._rotated((kiln_label, "raw"), rep + step):
                    cell[name] = serving.measure(
                        targets[name], workload, 1, concurrency, timing, workdir
                    )
                ratio = cell[kiln_label]["req_s"] / cell["raw"]["req_s"]
                ratios[f"c{concurrency}"].append(ratio)
                rates[f"{kiln_label}_c{concurrency}"].append(cell[kiln_label]["req_s"])
                rates[f"raw_c{concurrency}"].append(cell["raw"]["req_s"])
                if concurrency == 1:
                    by_process = cell[kiln_label]["cpu_ms_per_request_by_process"]
                    router_us.append(1000 * by_process["server"])
                print(
                    f"  rep {rep + 1} c={concurrency:<2} kiln ({'batching ' + kiln_label}) "
                    f"{cell[kiln_label]['req_s']:6.0f}/s, raw {cell['raw']['req_s']:6.0f}/s, "
                    f"ratio {ratio:.2f}",
                    flush=True,
                )
        serving.undeploy(kiln, "lean-on")
        by_process = pss_mb(process_tree(kiln.launched.process.pid))
        spares = set(_spare_trees(kiln.settings.pids_dir / "replicas"))
    for process, mb in by_process.items():
        note = "  (idle warm spare)" if _pid(process) in spares else ""
        print(f"  PSS {mb:6.1f} MB  {process}{note}")
    spare_mb = sum(mb for process, mb in by_process.items() if _pid(process) in spares)
    pss = sum(by_process.values()) - spare_mb
    print(f"  PSS of the idle warm spare(s), not counted in the target: {spare_mb:.1f} MB")
    idle = idle_request_cost_us(workload.bodies[1].read_bytes())
    return _report(ratios, rates, router_us, pss, idle, repeat)


def _report(
    ratios: dict[str, list[float]],
    rates: dict[str, list[float]],
    router_us: list[float],
    pss: float,
    idle: dict[str, float],
    repeat: int,
) -> bool:
    def fmt(values: list[float], digits: int = 2) -> str:
        return (
            f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}–{max(values):.{digits}f})"
        )

    print(f"\nLean path and batching, 1 row, median (min–max) of {repeat}:")
    print(f"  c=1  kiln batching off {fmt(rates['off_c1'], 0)}/s, raw {fmt(rates['raw_c1'], 0)}/s")
    print(f"  c=64 kiln batching on  {fmt(rates['on_c64'], 0)}/s, raw {fmt(rates['raw_c64'], 0)}/s")
    print(
        f"  idle request in process: inline {idle['inline_us']:.1f} µs, batching "
        f"{idle['batching_us']:.1f} µs"
    )
    checks = (
        (statistics.median(ratios["c1"]), ">=", TARGET_C1_RATIO, "c=1 batching off ÷ raw", "×"),
        (statistics.median(ratios["c64"]), ">=", TARGET_C64_RATIO, "c=64 batching on ÷ raw", "×"),
        (idle["extra_us"], "<=", TARGET_IDLE_US, "idle request's batching cost", " µs"),
        (statistics.median(router_us), "<=", TARGET_ROUTER_CPU_US, "router CPU per request", " µs"),
        (pss, "<=", TARGET_PSS_MB, "PSS, server + store + 1 replica", " MB"),
    )
    ok = True
    for value, op, limit, what, unit in checks:
        passed = value >= limit if op == ">=" else value <= limit
        ok = ok and passed
        print(
            f"{'PASS' if passed else 'FAIL'}: {what} {value:.2f}{unit} "
            f"(target {op} {limit:g}{unit})"
        )
    print(f"  c=1 ratios {fmt(ratios['c1'])}; c=64 ratios {fmt(ratios['c64'])}")
    print(f"  router CPU per request, µs: {fmt(router_us, 1)}")
    return ok
