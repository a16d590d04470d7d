"""Data rules: a thread that lists each watched prefix every ``KILN_DATA_WATCH_SECONDS`` and
fires the rules with enough new data.

What a rule has counted is durable (``retraining_seen_objects``): a firing records the objects
it counted in the same transaction as itself, so a restart neither fires twice on the same
objects nor forgets objects that arrived while the server was down (they are new at the next
listing). Objects short of a threshold stay uncounted and add up across ticks.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator

from botocore.exceptions import BotoCoreError, ClientError

from kiln.db.retraining import RetrainingRows
from kiln.errors import KilnError
from kiln.services.monitoring.actions.decisions import (
    NewDataEvidence,
    StoredObject,
    has_enough_new_data,
    new_objects,
    version_of,
)
from kiln.services.monitoring.actions.firings import FiringRunner
from kiln.services.monitoring.actions.rules import NewDataTrigger, RetrainingRule
from kiln.storage import ObjectStore, S3Uri

log = logging.getLogger(__name__)

Listing = Callable[[S3Uri], list[StoredObject]]


def store_listing(objects: ObjectStore) -> Listing:
    """Every object under a prefix of Kiln's store, with its ETag and size."""

    def listing(prefix: S3Uri) -> list[StoredObject]:
        return list(_list(objects, prefix))

    return listing


def _list(objects: ObjectStore, prefix: S3Uri) -> Iterator[StoredObject]:
    pages = objects.client.get_paginator("list_objects_v2")
    try:
        for page in pages.paginate(Bucket=prefix.bucket, Prefix=prefix.key):
            for item in page.get("Contents", []):
                yield StoredObject(item["Key"], item.get("ETag", "").strip('"'), item["Size"])
    except ClientError as e:
        if e.response.get("Error", {}).get("Code") != "NoSuchBucket":
            raise


class NewDataWatcher:
    """Lists each data rule's prefix on a tick; fires the rules with enough new data."""

    def __init__(
        self,
        rows: RetrainingRows,
        rules: Callable[[], list[RetrainingRule]],
        listing: Listing,
        runner: FiringRunner,
        *,
        tick_seconds: float,
        now: Callable[[], float],
    ) -> None:
        self._rows = rows
        self._rules = rules
        self._listing = listing
        self._runner = runner
        self._tick = tick_seconds
        self._now = now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the watching thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="kiln-data-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop watching and wait for the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self._tick):
            try:
                self.check_all()
            except (KilnError, ClientError, BotoCoreError) as e:
                log.warning("watching new data: %s; trying again next tick", e)

    def check_all(self) -> list[int]:
        """Look at every data rule once; the firings it recorded."""
        fired = []
        for rule in self._rules():
            if isinstance(rule.trigger, NewDataTrigger) and not self._stop.is_set():
                firing = self.check(rule, rule.trigger)
                if firing is not None:
                    fired.append(firing)
        return fired

    def check(self, rule: RetrainingRule, trigger: NewDataTrigger) -> int | None:
        """Fire ``rule`` if its prefix holds enough new data; the firing's id."""
        new = new_objects(self._rows.seen(rule.name), self._listing(trigger.s3_uri))
        if not has_enough_new_data(trigger, new):
            return None
        counted = {o.key: version_of(o) for o in new}
        evidence = NewDataEvidence(trigger.s3_uri, new)
        key = f"new-data@{uuid.uuid4().hex}"
        return self._runner.fire(rule, evidence, key, self._now(), counted)
