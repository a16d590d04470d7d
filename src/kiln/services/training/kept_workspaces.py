"""A trained model whose upload failed is kept on disk, for a bounded time, and the job says where.

Until ``model.tar.gz`` is in the store, the job's workspace holds the only copy of what the
script trained. A job that ends ``Failed`` after training (the upload, or the state writes
around it, failed) keeps its workspace for ``KILN_FAILED_UPLOAD_KEEP_HOURS``, minus what can be
fetched or rebuilt again (input channels, archives); its FailureReason names the folder and the
time it goes. The sweeper removes it after that time, and at start when it has expired.

Stored in the job's record as ``state["kiln"]["kept"] = {"path": …, "until": epoch seconds}``.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_STATE_KEY = "kept"


@dataclass(frozen=True)
class KeptWorkspace:
    """Where a failed job's files are, and until when (epoch seconds)."""

    path: Path
    until: float

    @classmethod
    def of(cls, state: Mapping[str, Any]) -> KeptWorkspace | None:
        """The kept workspace a job record's ``state`` names, if any."""
        kept = state.get("kiln", {}).get(_STATE_KEY)
        if not isinstance(kept, dict):
            return None
        return cls(Path(str(kept["path"])), float(kept["until"]))

    def record_in(self, state: dict[str, Any]) -> None:
        """Write this into a job record's ``state``."""
        state.setdefault("kiln", {})[_STATE_KEY] = {"path": str(self.path), "until": self.until}

    def note(self) -> str:
        """The sentence FailureReason ends with."""
        until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(self.until))
        return (
            f"The trained model was not stored: the job's files are kept in {self.path} "
            f"(model/ in each algo-N) until {until} (KILN_FAILED_UPLOAD_KEEP_HOURS)."
        )


def keep(root: Path, hours: float, now: float | None = None) -> KeptWorkspace:
    """Keep ``root`` for ``hours``, trimmed of what can be fetched or rebuilt again."""
    for archive in root.glob("*.tar.gz"):
        archive.unlink(missing_ok=True)
    for merged in root.glob("merged-*"):
        shutil.rmtree(merged, ignore_errors=True)
    for host in root.glob("algo-*"):
        shutil.rmtree(host / "input" / "data", ignore_errors=True)
        shutil.rmtree(host / ".venv", ignore_errors=True)
    return KeptWorkspace(root, (time.time() if now is None else now) + hours * 3600)
