"""The context every fault gets: a server it may kill, signed boto3 clients, a bearer key, a
folder, the profile, and the checklist its findings go into."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from conftest import source_tarball
from kiln.sdk.signing import call_native

from .load import Load
from .procs import Proc, every_process, with_text
from .results import Check, Counts, Outcome, Requests
from .server import KilnServer, ServerStartError
from .watch import Pinger
from .workloads import served_model, sha256

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_sagemaker import SageMakerClient

T = TypeVar("T")
BUCKET = "faults"


@dataclass(frozen=True)
class Profile:
    """How hard the faults push: the short one runs in CI, the long one with ``make faults``."""

    name: str
    concurrency: int  # invocation threads
    pause_s: float  # each thread's pause between answers: the short profile leaves CPU to Kiln
    load_seconds: float  # load before and after each fault
    steady_within_s: float  # the bound for an end or a steady state after recovery
    channel_files: int  # 8 MiB objects in a channel
    big_model_mib: int  # a model that takes a while to pack and upload
    repeats: int  # kills in a row where a fault repeats


SHORT = Profile("short", 4, 0.01, 2.0, 120.0, 12, 48, 1)
LONG = Profile("long", 8, 0.0, 6.0, 180.0, 40, 160, 3)
PROFILES = {p.name: p for p in (SHORT, LONG)}


class Checklist:
    """Findings of one fault, in order."""

    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.notes: list[tuple[int, str]] = []

    def expect(self, ok: bool, what: str, observed: str = "", counts: Counts | None = None) -> bool:
        """Record one checked item; whether it held."""
        self.checks.append(Check(what, ok, observed, counts))
        return ok

    def note(self, text: str) -> None:
        """Record what happened, for the report (printed among the checks, in order)."""
        self.notes.append((len(self.checks), text))

    def outcome(self, requests: Requests | None = None) -> Outcome:
        """The fault's result."""
        return Outcome(self.checks, requests, notes=self.notes)


def client_config() -> Config:
    """Few retries, short connects: calls during a downtime fail fast and are polled again."""
    return Config(
        retries={"total_max_attempts": 2, "mode": "standard"},
        connect_timeout=3,
        read_timeout=60,
        s3={"addressing_style": "path"},
    )


class Lab:
    """One fault's world: ``server`` (kill it at will), clients, a bearer key, a folder."""

    def __init__(self, server: KilnServer, folder: Path, profile: Profile) -> None:
        self.server = server
        self.folder = folder
        self.profile = profile
        self.checks = Checklist()
        self.markers: list[str] = []  # command-line text of processes a fault made
        settings = server.settings
        session = boto3.session.Session(
            aws_access_key_id=settings.credentials.access_key_id,
            aws_secret_access_key=settings.credentials.secret_access_key,
            region_name=settings.region,
        )
        self.sagemaker: SageMakerClient = session.client(
            "sagemaker", endpoint_url=server.url, config=client_config()
        )
        self.s3: S3Client = session.client(
            "s3", endpoint_url=settings.s3_endpoint_url, config=client_config()
        )
        self.bearer = ""

    def open(self) -> None:
        """Start the server, create the bearer key and the bucket."""
        self.server.start()
        keys = {"User": "faults", "Policy": "admin", "Kind": "bearer"}
        self.bearer = call_native(self.server.settings, "POST", "/kiln/v1/keys", keys)["ApiKey"]
        self.s3.create_bucket(Bucket=BUCKET)

    def marker(self) -> str:
        """A unique word to put on a command line, so the processes it reaches can be found."""
        word = f"faults{uuid.uuid4().hex[:12]}"
        self.markers.append(word)
        return word

    def marked(self, marker: str) -> list[Proc]:
        """Live processes whose command line holds ``marker``."""
        return with_text(every_process(), marker)

    def sweep(self) -> list[Proc]:
        """Kill, by pid, what the server ever started and what carries a marker; those killed."""
        killed = self.server.sweep()
        for marker in self.markers:
            killed += [p for p in self.marked(marker) if p.kill()]
        return killed

    # -- objects -----------------------------------------------------------------------------

    def put(self, key: str, body: bytes) -> str:
        """Store ``body`` at ``key`` in the faults bucket; its ``s3://`` URI."""
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return f"s3://{BUCKET}/{key}"

    def get(self, uri: str) -> bytes | None:
        """The object at ``uri``, or None if it cannot be read."""
        bucket, _, key = uri.removeprefix("s3://").partition("/")
        try:
            return self.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except (ClientError, BotoCoreError):
            return None

    def source(self, script: str) -> str:
        """Upload ``script`` as ``train.py`` in a sourcedir.tar.gz; its URI."""
        return self.put(
            f"code/{uuid.uuid4().hex}/sourcedir.tar.gz", source_tarball({"train.py": script})
        )

    def model(self, extra: dict[str, str | bytes] | None = None) -> str:
        """Upload the served model (plus ``extra`` files) as a model.tar.gz; its URI."""
        return self.put(f"models/{uuid.uuid4().hex}/model.tar.gz", served_model().tarball(extra))

    def kept(self, uri: str, digest: str, what: str) -> bool:
        """Check that the object at ``uri`` is still there, byte for byte (lost otherwise)."""
        body = self.get(uri)
        observed = "missing" if body is None else f"{len(body)} bytes, sha256 {sha256(body)[:12]}"
        ok = body is not None and sha256(body) == digest
        return self.checks.expect(ok, f"{what} is still there, intact", observed, counts="lost")

    # -- the API, tolerant of a server that is down ------------------------------------------

    def call(self, operation: Callable[..., T], **kwargs: Any) -> T | None:
        """``operation(**kwargs)``, or None if the server is down or answers an error."""
        try:
            return operation(**kwargs)
        except (ClientError, BotoCoreError):
            return None

    def poll(self, probe: Callable[[], T | None], timeout: float, every: float = 0.2) -> T | None:
        """Call ``probe`` until it returns something; that, or None after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            found = probe()
            if found is not None or time.monotonic() > deadline:
                return found
            time.sleep(every)

    def restart(self) -> bool:
        """Start the killed server again on the same home and ports, as an operator would.

        If it will not start, that is a failed check; then what the dead server left running is
        killed by hand (the operator's way out) and it is started once more, so the fault's
        other checks still measure something. Whether the server runs in the end.
        """
        what = "the server starts again on the same KILN_HOME and ports after kill -9"
        try:
            seconds = self.server.start()
        except ServerStartError as e:
            self.checks.expect(False, what, _last_error(str(e)))
        else:
            self.checks.expect(True, what, f"answered /ping {seconds:.1f} s after starting")
            return True
        killed = [p for p in self.server.leftovers() if p.kill()]
        names = ", ".join(sorted({p.name for p in killed})) or "nothing"
        self.checks.note(f"operator recovery: killed {len(killed)} leftover(s) ({names}), restart")
        try:
            self.server.start()
        except ServerStartError as e:
            self.checks.note(f"the server did not start even then: {_last_error(str(e))}")
            return False
        return True

    def leftovers_reaped(self, within: float = 15.0) -> bool:
        """Check that nothing a killed server started outlives the restart by ``within`` s."""
        deadline = time.monotonic() + within
        while (left := self.server.leftovers()) and time.monotonic() < deadline:
            time.sleep(0.25)
        observed = ", ".join(f"{p.name} (pid {p.pid})" for p in left) or "none left"
        ok = self.checks.expect(
            not left,
            f"nothing the killed server started still runs {within:.0f} s after the restart",
            observed + (" (killed now, by pid)" if left else ""),
        )
        for p in left:
            p.kill()
        return ok

    # -- invocations ---------------------------------------------------------------------------

    def load(self, endpoint: str, concurrency: int | None = None) -> Load:
        """Invocation load on ``endpoint`` with the bearer key (started)."""
        model = served_model()
        return Load(
            self.server.settings.port,
            f"/endpoints/{endpoint}/invocations",
            model.body,
            {"Authorization": f"Bearer {self.bearer}"},
            model.is_right,
            concurrency or self.profile.concurrency,
            self.profile.pause_s,
        ).start()

    def responsive(self, pinger: Pinger) -> bool:
        """Check that the server answered every /ping while ``pinger`` ran."""
        return self.checks.expect(
            pinger.misses == 0,
            f"the server answered /ping within {pinger.timeout:.0f} s throughout",
            pinger.summary(),
        )

    def pinger(self) -> Pinger:
        """A /ping sampler for this lab's server."""
        return Pinger(self.server.ping)


def _last_error(text: str) -> str:
    """The last line of a log tail that says what went wrong."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["(no output)"])[-1][:300]
