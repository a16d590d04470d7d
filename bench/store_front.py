"""The store front: a 100 MB upload and download through it, beside rclone reached directly.

Two systems, measured in one run, each pinned to ``SERVER_CPU`` (``taskset``; children inherit):

- front:  ``kiln server`` (its own process): the front on ``KILN_S3_PORT`` checks the signature
          and the policies and forwards to its rclone on a private port;
- direct: ``rclone serve s3`` with the same binary and flags over a folder on the same disk, on
          its own port, with its own key: the floor the front stands in front of.

The client, this script on ``CLIENT_CPU``, is boto3 with its default transfer settings
(multipart above 8 MB, 8 MB parts, 10 threads): ``upload_file`` then ``download_file`` of the same
100 MB of random bytes, checked by SHA-256 after each download. Each repetition measures both
systems, the order alternating; each ratio (front ÷ direct) is taken within one repetition.
Only loopback is used. Run: ``.venv/bin/python bench/store_front.py [--repeat N] [--mb M]``.
Results also go to ``bench/results/store_front.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from common import run_header, server_environment, sigterm_as_exit
from loadgen import CLIENT_CPU, Launched, free_port, launch, stop

from kiln.config import Settings
from kiln.storage import rclone_binary, wait_for_port

RESULTS = Path(__file__).resolve().parent / "results" / "store_front.json"
KILN = str(Path(sys.executable).with_name("kiln"))
START_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Store:
    """One S3 endpoint to measure and the key that opens it."""

    name: str
    endpoint: str
    key_id: str
    secret: str

    def client(self) -> Any:
        """A boto3 S3 client for this store."""
        return boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint, region_name="us-east-1",
            aws_access_key_id=self.key_id, aws_secret_access_key=self.secret,
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=16),
        )  # fmt: skip


def start_kiln(home: Path, stack: ExitStack) -> Store:
    """``kiln server`` on free ports; the front's endpoint and the owner's key."""
    env = server_environment(home)
    port, s3_port = int(env["KILN_PORT"]), int(env["KILN_S3_PORT"])
    server = launch("kiln", [KILN, "server"], home.parent / "kiln.log", env)
    stack.callback(stop, server)
    _wait(server, s3_port)
    wait_for_port("127.0.0.1", port, START_TIMEOUT_S, server.process)
    owner = Settings.from_env({"KILN_HOME": str(home)}).credentials
    return Store("front", f"http://127.0.0.1:{s3_port}", owner.access_key_id,
                 owner.secret_access_key)  # fmt: skip


def start_rclone(folder: Path, stack: ExitStack) -> Store:
    """``rclone serve s3`` as Kiln runs it (same flags), on a free port with a fresh key."""
    folder.mkdir(parents=True)
    port = free_port()
    key_id, secret = "AKIKBENCH" + secrets.token_hex(6).upper()[:11], secrets.token_urlsafe(30)[:40]
    env = {**os.environ, "RCLONE_AUTH_KEY": f'"{key_id},{secret}"'}
    argv = [rclone_binary(), "serve", "s3", "--addr", f"127.0.0.1:{port}",
            "--config", "/dev/null", str(folder)]  # fmt: skip
    rclone = launch("rclone", argv, folder.parent / "rclone.log", env)
    stack.callback(stop, rclone)
    _wait(rclone, port)
    return Store("direct", f"http://127.0.0.1:{port}", key_id, secret)


def _wait(launched: Launched, port: int) -> None:
    try:
        wait_for_port("127.0.0.1", port, START_TIMEOUT_S, launched.process)
    except RuntimeError as e:
        raise SystemExit(f"{launched.name} did not start: {e}\n{launched.tail()}") from None


def round_trip(store: Store, source: Path, digest: str, scratch: Path) -> dict[str, float]:
    """Upload then download ``source``; seconds for each, the download checked."""
    s3 = store.client()
    key = f"bench/{secrets.token_hex(4)}.bin"
    started = time.perf_counter()
    s3.upload_file(str(source), "bench", key)
    uploaded = time.perf_counter()
    target = scratch / f"{store.name}.bin"
    s3.download_file("bench", key, str(target))
    downloaded = time.perf_counter()
    if _sha256(target) != digest:
        raise SystemExit(f"{store.name}: the downloaded object differs from the upload")
    target.unlink()
    s3.delete_object(Bucket="bench", Key=key)
    return {"upload_s": uploaded - started, "download_s": downloaded - uploaded,
            "total_s": downloaded - started}  # fmt: skip


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _spread(values: Sequence[float], unit: str, digits: int = 2) -> str:
    return (f"{statistics.median(values):.{digits}f}{unit} "
            f"({min(values):.{digits}f}–{max(values):.{digits}f})")  # fmt: skip


def report(runs: list[dict[str, dict[str, float]]], megabytes: int) -> dict[str, Any]:
    """Print the table and the verdict line; the summary as JSON."""
    summary: dict[str, Any] = {}
    print(f"\n{'phase':10} {'front':>22} {'direct rclone':>22} {'front ÷ direct':>22}")
    for phase in ("upload_s", "download_s", "total_s"):
        front = [run["front"][phase] for run in runs]
        direct = [run["direct"][phase] for run in runs]
        ratios = [f / d for f, d in zip(front, direct, strict=True)]
        print(f"{phase[:-2]:10} {_spread(front, ' s'):>22} {_spread(direct, ' s'):>22} "
              f"{_spread(ratios, '×'):>22}")  # fmt: skip
        summary[phase] = {"front": front, "direct": direct, "ratio": ratios}
    for name in ("front", "direct"):
        rates = [2 * megabytes / run[name]["total_s"] for run in runs]
        print(f"{name} throughput (up + down): {_spread(rates, ' MB/s', 0)}")
    ratio = statistics.median(summary["total_s"]["ratio"])
    print(
        f"\nRESULT: {megabytes} MB up + down through the front takes {ratio:.2f}× "
        "the time straight to rclone (median of the per-repetition ratios)"
    )
    return summary


def main() -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mb", type=int, default=100)
    args = parser.parse_args()
    os.sched_setaffinity(0, {CLIENT_CPU})
    root = Path(tempfile.mkdtemp(prefix="kiln-bench-store-"))
    with sigterm_as_exit(), ExitStack() as stack:
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        stores = [start_kiln(root / "home", stack), start_rclone(root / "direct", stack)]
        for store in stores:
            store.client().create_bucket(Bucket="bench")
        source = root / "source.bin"
        source.write_bytes(os.urandom(args.mb * 1024 * 1024))
        digest = _sha256(source)
        for store in stores:  # warm-up: connections, rclone's first write into the bucket
            round_trip(store, source, digest, root)
        runs = []
        for repetition in range(args.repeat):
            order = stores if repetition % 2 == 0 else stores[::-1]
            run = {store.name: round_trip(store, source, digest, root) for store in order}
            runs.append(run)
            print(f"rep {repetition + 1}: " + ", ".join(
                f"{name} up {r['upload_s']:.2f} s down {r['download_s']:.2f} s"
                for name, r in sorted(run.items())))  # fmt: skip
        summary = report(runs, args.mb)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({**run_header("store_front"), "megabytes": args.mb,
                                   "summary": summary, "runs": runs}, indent=2))  # fmt: skip


if __name__ == "__main__":
    main()
