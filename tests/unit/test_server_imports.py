"""What importing the server loads: not the model-side libraries it never calls on its own."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_server_leaves_numpy_and_scipy_unloaded() -> None:
    # A fresh interpreter: this one has imported everything the other tests needed.
    code = (
        "import sys, kiln.server; "
        "print(sorted(m for m in ('numpy', 'scipy', 'sklearn') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
