"""First on the Ray processes' PYTHONPATH: runs the compat suite's recorder of non-loopback
traffic (``tests/compat/netguard``), then notes this process's pid in ``KILN_RAY_GUARDED``, so
a test can tell that every Python process of the cluster was watched."""

import os
import runpy
from pathlib import Path

runpy.run_path(
    str(Path(__file__).resolve().parents[2] / "compat" / "netguard" / "sitecustomize.py")
)
if os.environ.get("KILN_RAY_GUARDED"):
    with open(os.environ["KILN_RAY_GUARDED"], "a") as _log:
        _log.write(f"{os.getpid()}\n")
