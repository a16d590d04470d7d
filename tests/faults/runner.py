"""Runs one fault in a folder of its own: a fresh server, the fault, a clean stop, a sweep."""

from __future__ import annotations

import shutil
import time
import traceback
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from .catalog import Fault
from .lab import Lab, Profile
from .results import Check, FaultResult, Outcome
from .server import KilnServer, ServerStartError
from .tmpfs import mount_tmpfs, unmount


def run_fault(fault: Fault, profile: Profile, root: Path, out: TextIO) -> FaultResult:
    """Run ``fault`` under ``profile`` in ``root/<name>``; print its report to ``out``."""
    folder = root / fault.name
    folder.mkdir(parents=True, exist_ok=True)
    print(f"── {fault.name} ({fault.family}): {fault.does}", file=out, flush=True)
    started = time.monotonic()
    with ExitStack() as stack:
        home = folder / "home"
        reason = fault.missing()
        if reason is None and fault.tmpfs_mib is not None:
            reason = mount_tmpfs(home, fault.tmpfs_mib)
            if reason is None:
                stack.callback(unmount, home)
        if reason is not None:
            result = FaultResult(fault.name, Outcome(skipped=reason), 0.0)
            report(result, out)
            return result
        lab = Lab(KilnServer(home, folder / "server.log", fault.server_env), folder, profile)
        outcome = _run(fault, lab)
        outcome.checks.extend(close(lab))
    result = FaultResult(fault.name, outcome, time.monotonic() - started)
    report(result, out)
    if result.outcome.is_clean:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        shutil.rmtree(home, ignore_errors=True)
        print(f"   server log kept: {folder / 'server.log'}", file=out, flush=True)
    return result


def _run(fault: Fault, lab: Lab) -> Outcome:
    try:
        lab.open()
    except ServerStartError as e:
        lab.checks.expect(False, "the server starts", str(e)[-600:])
        return lab.checks.outcome()
    try:
        return fault.run(lab)
    except Exception as e:
        where = traceback.extract_tb(e.__traceback__)[-1]
        lab.checks.expect(
            False,
            "the fault runs to its end",
            f"{type(e).__name__}: {e} ({Path(where.filename).name}:{where.lineno})"[:600],
        )
        return lab.checks.outcome()


def close(lab: Lab) -> list[Check]:
    """Stop the server cleanly, check nothing it started outlives it, then sweep what did."""
    survivors = lab.server.stop() + lab.server.leftovers()
    marked = [p for marker in lab.markers for p in lab.marked(marker)]
    left = list(dict.fromkeys([*survivors, *marked]))
    lab.sweep()
    lab.sagemaker.close()
    lab.s3.close()
    seen = ", ".join(f"{p.name} (pid {p.pid})" for p in left[:8])
    if len(left) > 8:
        seen += f" and {len(left) - 8} more"
    return [
        Check(
            "the server stops cleanly and every process it started ends with it",
            not left,
            seen or "nothing left",
        )
    ]


def _line(check: Check) -> str:
    mark = "ok  " if check.ok else "FAIL"
    kind = f" [{check.counts}]" if check.counts and not check.ok else ""
    observed = " ".join(check.observed.split())  # FailureReasons span lines
    return f"{mark}  {check.what}{f' — {observed}' if observed else ''}{kind}"


def report(result: FaultResult, out: TextIO) -> None:
    """Print what the fault did and checked, and its figures."""
    outcome = result.outcome
    if outcome.skipped is not None:
        print(f"   SKIPPED: {outcome.skipped}", file=out, flush=True)
        return
    notes = list(outcome.notes)
    for index, check in enumerate([*outcome.checks, None]):
        while notes and notes[0][0] <= index:
            print(f"   ·     {notes.pop(0)[1]}", file=out)
        if check is not None:
            print(f"   {_line(check)}", file=out)
    if outcome.requests is not None:
        print(f"   requests: {outcome.requests.line()}", file=out)
    figures = (
        f"{outcome.stuck} stuck, {outcome.lost} lost, "
        f"{outcome.failed_requests} failed requests, {len(outcome.failed_checks)} failed checks"
    )
    print(f"   → {figures} ({result.seconds:.1f} s)", file=out, flush=True)
