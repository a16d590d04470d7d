"""Job workspaces no runner needs any more, removed (``sweeping.should_remove_workspace``).

At start — the restart rule has run, no runner exists yet — every workspace goes but those a
failed upload keeps (``kept_workspaces``) until their time; while the server runs, the sweeper
also removes kept ones once their time is up, and any a crash or a bug left behind.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from kiln.db import TrainingJobStore
from kiln.services.sweeping import WorkspaceView, should_remove_workspace
from kiln.services.training.kept_workspaces import KeptWorkspace

log = logging.getLogger(__name__)


def sweep_workspaces(
    folder: Path,
    jobs: TrainingJobStore,
    running: Callable[[], list[str]],
    *,
    at_start: bool,
    now: float | None = None,
) -> list[str]:
    """Remove the left-over workspaces in ``folder``; the names of those removed."""
    if not folder.is_dir():
        return []
    before = set(running())
    names = sorted(entry.name for entry in folder.iterdir() if entry.is_dir())
    records = {name: jobs.get(name) for name in names}
    live = before | set(running())
    now = time.time() if now is None else now
    removed = []
    for name, record in records.items():
        kept = None if record is None else KeptWorkspace.of(record.state)
        view = WorkspaceView(
            name,
            None if record is None else record.status,
            name in live,
            None if kept is None else kept.until,
        )
        if should_remove_workspace(view, now, at_start=at_start):
            log.info("removing the workspace of %s (%s)", name, view.job_status or "no such job")
            shutil.rmtree(folder / name, ignore_errors=True)
            removed.append(name)
    return removed
