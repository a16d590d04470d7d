"""Checkpoint sync (CONTRACTS.md §1.9): S3 → local at start, local → S3 while the job runs."""

from __future__ import annotations

from pathlib import Path

from kiln.services.training.job_files import pinned
from kiln.storage import ObjectStore, S3Uri

_Snapshot = dict[str, tuple[int, int]]


class CheckpointSync:
    """Mirrors a job's checkpoint folder to ``CheckpointConfig.S3Uri``."""

    def __init__(self, objects: ObjectStore, uri: S3Uri, folder: Path) -> None:
        self._objects = objects
        self._uri = uri
        self._folder = folder
        self._synced: _Snapshot = {}

    def restore(self) -> int:
        """Copy what the prefix holds into the folder (a restart resumes from it)."""
        count = self._objects.download_prefix(self._uri, self._folder)
        self._synced = self._snapshot()
        return count

    def sync(self) -> None:
        """Upload new and changed files; delete objects whose files were deleted."""
        current = self._snapshot()
        for relative, stamp in current.items():
            if self._synced.get(relative) != stamp:
                # The job owns the folder: never follow its links out of it (job_files.py).
                with pinned(self._folder, self._folder / relative) as handle:
                    if handle is not None:
                        self._objects.upload_file(handle, self._uri.join(relative))
        for relative in self._synced.keys() - current.keys():
            self._objects.delete(self._uri.join(relative))
        self._synced = current

    def _snapshot(self) -> _Snapshot:
        snapshot: _Snapshot = {}
        for path in self._folder.rglob("*"):
            # Files being written (".part", hidden temp files) wait for the next round.
            is_candidate = path.is_file() and not path.is_symlink()
            if is_candidate and not path.name.startswith("."):
                stat = path.stat()
                snapshot[path.relative_to(self._folder).as_posix()] = (
                    stat.st_mtime_ns,
                    stat.st_size,
                )
        return snapshot
