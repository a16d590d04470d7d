"""The Ray backend's decisions: what fits a node, bundles, node paths, listening, refs."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.compute.base import LISTEN, ProcessSpec
from kiln.compute.ray.plans import (
    RayRef,
    Resources,
    actor_name,
    bundle_of,
    group_name,
    listening,
    node_path,
    node_resources,
    owner_of,
    shortfall,
    total,
)

NODES = [Resources(2, 2048), Resources(8, 16384, 1)]


@pytest.mark.parametrize(
    ("request_", "fits"),
    [
        (Resources(2, 2048), True),  # the small node, exactly
        (Resources(8, 16384, 1), True),  # the big one, exactly
        (Resources(4, 1024), True),  # only the big one has 4 CPUs
        (Resources(9, 1024), False),  # 2 + 8 CPUs exist, but a host runs on one node
        (Resources(1, 16385), False),
        (Resources(1, 64, 2), False),
    ],
)
def test_a_host_fits_when_one_node_holds_all_of_it(request_: Resources, fits: bool) -> None:
    assert (shortfall(request_, 1, NODES) is None) is fits


@pytest.mark.parametrize(
    ("request_", "hosts", "fits"),
    [
        (Resources(1, 1024), 10, True),  # 2 on the small node (memory), 8 on the big (CPUs)
        (Resources(1, 1024), 11, False),
        (Resources(2, 2048), 5, True),  # 1 + 4
        (Resources(3, 64), 3, False),  # none on the small node, 8 // 3 = 2 on the big one
        (Resources(1, 64, 1), 2, False),  # one GPU in the cluster
    ],
)
def test_a_jobs_hosts_fit_when_the_nodes_hold_them_all_at_once(
    request_: Resources, hosts: int, fits: bool
) -> None:
    assert (shortfall(request_, hosts, NODES) is None) is fits


def test_a_shortfall_names_the_request_and_the_nodes() -> None:
    assert shortfall(Resources(64, 64), 1, [Resources(2, 2048)]) == (
        "no node of the Ray cluster can hold 64 CPUs, 64 MiB and 0 GPUs "
        "(its nodes: 2 CPUs/2048 MiB/0 GPUs)"
    )
    assert shortfall(Resources(2, 64), 2, [Resources(2, 2048)]) == (
        "the Ray cluster cannot hold 2 hosts of 2 CPUs, 64 MiB and 0 GPUs "
        "(its nodes: 2 CPUs/2048 MiB/0 GPUs)"
    )
    assert "none alive" in str(shortfall(Resources(1, 1), 1, []))


def test_the_cluster_is_its_live_nodes_added_up() -> None:
    raw = [
        {"Alive": True, "Resources": {"CPU": 2.0, "memory": 2 * 2**30}},
        {"Alive": True, "Resources": {"CPU": 8.0, "memory": 16 * 2**30, "GPU": 1.0}},
        {"Alive": False, "Resources": {"CPU": 64.0, "memory": 2**40}},
    ]
    assert node_resources(raw) == NODES
    assert total(NODES) == Resources(10, 18432, 1)


def test_a_bundle_uses_rays_names_and_bytes() -> None:
    assert bundle_of(Resources(2, 512)) == {"CPU": 2.0, "memory": 512 * 2**20}
    assert bundle_of(Resources(1, 1, 1))["GPU"] == 1.0


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/home/k/.kiln/workspaces/job-1", "/tmp/kiln-ray/workspaces/job-1"),
        ("/home/k/.kiln/workspaces/job-1/code", "/tmp/kiln-ray/workspaces/job-1/code"),
        ("/opt/elsewhere", "/opt/elsewhere"),  # not under KILN_HOME: the same on every node
    ],
)
def test_a_workspace_keeps_its_path_under_home_on_the_node(path: str, expected: str) -> None:
    assert node_path(Path("/tmp/kiln-ray"), Path("/home/k/.kiln"), Path(path)) == Path(expected)


def test_a_path_already_on_the_node_is_not_moved_again_when_the_work_dir_is_under_home() -> None:
    home, work_dir = Path("/home/k/.kiln"), Path("/home/k/.kiln/ray-work")
    once = node_path(work_dir, home, home / "workspaces/job-1")
    assert once == work_dir / "workspaces/job-1"
    assert node_path(work_dir, home, once) == once


def test_listen_becomes_the_nodes_port_and_host() -> None:
    argv = ["python", "-m", "serve", LISTEN, "--workers", "1"]
    assert listening(argv, "10.0.0.7", 4321) == [
        "python", "-m", "serve", "--port", "4321", "--host", "10.0.0.7", "--workers", "1"
    ]  # fmt: skip


def test_a_ref_round_trips_and_other_backends_refs_are_not_ours() -> None:
    ref = RayRef("kiln/job-1-algo-1", "kiln", "ab12", "10.0.0.7", None, "job-1")
    assert RayRef.load(ref.dump()) == ref
    assert RayRef.load('{"backend": "local", "pid": 1}') is None
    assert RayRef.load("not json") is None


def test_actors_and_groups_are_named_by_the_server_that_started_them() -> None:
    spec = ProcessSpec("job-1-algo-2", ["x"], {}, Path("/w"), Path("/w"), vcpus=1, memory_mib=64)
    assert actor_name("host-a-1f2e", spec) == "kiln/host-a-1f2e/job-1-algo-2"
    assert group_name("host-a-1f2e", "job-1") == "kiln/host-a-1f2e/job-1"


@pytest.mark.parametrize(
    ("name", "owner"),
    [
        ("kiln/host-a-1f2e/job-1-algo-2", "host-a-1f2e"),
        ("kiln/host-a-1f2e/replica-echo-1a2b3c4d", "host-a-1f2e"),
        ("kiln/job-1-algo-2", None),  # no owner in it: a name from before servers were named
        ("kiln/host-a-1f2e/", None),
        ("other/host-a-1f2e/job-1", None),  # not Kiln's
        ("", None),
    ],
)
def test_the_owner_is_read_back_from_a_name(name: str, owner: str | None) -> None:
    assert owner_of(name) == owner
