"""Progress bars for transfers, drawn with rich on stderr so stdout stays the job's log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


@contextmanager
def transfer_progress(description: str, total_bytes: int) -> Iterator[Callable[[int], None]]:
    """A bar for ``total_bytes``; yields the callback boto3 reports transferred bytes to."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
    with progress:
        task = progress.add_task(description, total=total_bytes)
        # boto3 calls back from its transfer threads; Progress.advance takes its own lock.
        yield lambda sent: progress.advance(task, sent)
