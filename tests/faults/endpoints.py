"""Endpoints for the faults: deploy, wait for a steady state, find each replica's process."""

from __future__ import annotations

import time
import urllib.error
from typing import Any

from kiln.compute.local import LocalRef
from kiln.sdk.signing import call_native

from .jobs import ROLE
from .lab import Lab
from .procs import Proc, descendants, with_text

STEADY = frozenset({"InService", "Failed"})
MODEL_SERVER = "kiln.runtime.model_server"


def deploy(
    lab: Lab,
    name: str,
    model: str,
    count: int,
    *,
    environment: dict[str, str] | None = None,
    volume_gb: int | None = None,
) -> None:
    """CreateModel, CreateEndpointConfig (one variant of ``count`` replicas), CreateEndpoint."""
    container: Any = {
        "Image": "kiln/python",
        "ModelDataUrl": model,
        "Environment": environment or {},
    }
    lab.sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer=container)
    variant: Any = {
        "VariantName": "main",
        "ModelName": name,
        "InitialInstanceCount": count,
        "InstanceType": "ml.m5.large",
        "InitialVariantWeight": 1.0,
    }
    if volume_gb is not None:
        variant["VolumeSizeInGB"] = volume_gb
    lab.sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
    lab.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


def describe(lab: Lab, name: str) -> dict[str, Any] | None:
    """DescribeEndpoint, or None while the server cannot answer."""
    found = lab.call(lab.sagemaker.describe_endpoint, EndpointName=name)
    return None if found is None else dict(found)


def healthy_count(endpoint: dict[str, Any]) -> int:
    """Replicas serving now, summed over the variants."""
    return sum(v.get("CurrentInstanceCount", 0) for v in endpoint.get("ProductionVariants", []))


def settles(
    lab: Lab, name: str, *, replicas: int | None = None, expected: str | None = "InService"
) -> dict[str, Any] | None:
    """Check that the endpoint is InService or Failed (with ``replicas`` healthy) within the
    profile's bound (stuck if not), and ``expected`` if given; its description."""
    within = lab.profile.steady_within_s
    started = time.monotonic()

    def probe() -> dict[str, Any] | None:
        found = describe(lab, name)
        if found is None or found["EndpointStatus"] not in STEADY:
            return None
        is_full = replicas is None or healthy_count(found) == replicas
        return found if found["EndpointStatus"] == "Failed" or is_full else None

    final = lab.poll(probe, within, every=0.2)
    steady = "InService or Failed" + (f" with {replicas} healthy replicas" if replicas else "")
    what = f"endpoint {name} is {steady} within {within:.0f} s"
    if final is None:
        last = describe(lab, name)
        seen = "the server does not answer"
        if last is not None:
            seen = f"still {last['EndpointStatus']}, {healthy_count(last)} healthy replica(s)"
        lab.checks.expect(False, what, seen, counts="stuck")
        return None
    status = final["EndpointStatus"]
    lab.checks.expect(True, what, f"{status} after {time.monotonic() - started:.1f} s")
    if expected is not None:
        reason = final.get("FailureReason", "")
        lab.checks.expect(
            status == expected,
            f"endpoint {name} is {expected}",
            status + (f": {reason[:300]}" if reason else ""),
        )
    return final


def replica_ids(lab: Lab, name: str) -> list[str] | None:
    """The endpoint's replica ids (Kiln's native API), or None while it cannot answer."""
    try:
        found = call_native(lab.server.settings, "GET", f"/kiln/v1/endpoints/{name}/replicas")
    except (urllib.error.URLError, OSError):
        return None
    return [r["ReplicaId"] for r in found["Replicas"]]


def replica_process(lab: Lab, replica_id: str) -> Proc | None:
    """The model server process of one replica (inside bwrap where it is sandboxed)."""
    tree = lab.server.snapshot()
    roots = with_text(tree, replica_id)
    # One started from a warm spare runs under the spare's paths: its ref file names it.
    ref_file = lab.server.settings.pids_dir / "replicas" / f"{replica_id}.json"
    record = LocalRef.load(ref_file.read_text()) if ref_file.exists() else None
    roots += [p for p in tree if record is not None and p.pid == record.pid]
    family = [*roots, *descendants(*(p.pid for p in roots))]
    servers = [p for p in family if MODEL_SERVER in p.cmdline and p.name != "bwrap"]
    return min(servers, key=lambda p: p.pid, default=None)


def replaced(lab: Lab, name: str, victim: str, count: int) -> float | None:
    """Wait until ``victim`` left the endpoint and ``count`` healthy replicas serve; seconds."""
    started = time.monotonic()

    def probe() -> float | None:
        ids = replica_ids(lab, name)
        found = describe(lab, name)
        if ids is None or found is None or victim in ids:
            return None
        return time.monotonic() - started if healthy_count(found) == count else None

    return lab.poll(probe, lab.profile.steady_within_s, every=0.1)
