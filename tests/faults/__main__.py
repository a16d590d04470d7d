"""``python -m faults [--profile short|long] [--only NAME …] [--list]`` (PYTHONPATH=tests).

Runs each fault of the profile against a fresh ``kiln server``, prints what each checked, and
ends with ``N faults, S stuck, L lost, F failed requests``; exits 1 unless all three are 0 and
no other check failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from .catalog import FAULTS, faults_for
from .lab import PROFILES
from .results import is_clean, notes, summary_line
from .runner import run_fault


def main(argv: list[str] | None = None) -> int:
    """The command line; the exit code."""
    parser = argparse.ArgumentParser(prog="python -m faults", description=__doc__)
    parser.add_argument("--profile", choices=sorted(PROFILES), default="short")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help="these faults only")
    parser.add_argument("--list", action="store_true", help="list the faults and exit")
    parser.add_argument("--workdir", type=Path, help="where each fault's KILN_HOME goes")
    args = parser.parse_args(argv)
    if args.list:
        for fault in FAULTS:
            print(f"{fault.name:32} {'/'.join(sorted(fault.profiles)):10} {fault.does}")
        return 0
    try:
        faults = faults_for(args.profile, args.only)
    except ValueError as e:
        parser.error(str(e))
    root = Path(tempfile.mkdtemp(prefix="kiln-faults-", dir=args.workdir))
    print(f"kiln faults, {args.profile} profile: {len(faults)} fault(s) in {root}", flush=True)
    started = time.monotonic()
    results = [run_fault(fault, PROFILES[args.profile], root, sys.stdout) for fault in faults]
    print(f"\n{time.monotonic() - started:.0f} s in all")
    for line in notes(results):
        print(line)
    print(summary_line(results), flush=True)
    return 0 if is_clean(results) else 1


if __name__ == "__main__":
    sys.exit(main())
