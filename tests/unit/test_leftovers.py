"""Processes tied to their parent, left-over groups reaped, a home's cgroups cleared — for real."""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.compute.cgroups import Cgroups
from kiln.compute.leftovers import die_with_parent, group_processes, reap_group
from kiln.compute.processes import tree_members
from kiln.pidfiles import process_info


def _wait_for_members(pgid: int, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(group_processes(pgid)) < count:
        assert time.monotonic() < deadline, "the group never grew"
        time.sleep(0.01)


@pytest.fixture
def group(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A process group of three (bash and two sleeps) working in ``tmp_path/ws``."""
    (tmp_path / "ws").mkdir()
    leader = subprocess.Popen(
        ["bash", "-c", "sleep 60 & sleep 60 & wait"], cwd=tmp_path / "ws", start_new_session=True
    )
    _wait_for_members(leader.pid, 3)
    yield leader
    leader.kill()
    leader.wait()


def test_reap_group_kills_every_member_of_a_group_that_is_ours(
    group: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    workspace = str(tmp_path / "ws")
    assert reap_group(group.pid, lambda members: any(m.cwd == workspace for m in members))
    assert group_processes(group.pid) == []


def test_reap_group_also_kills_descendants_that_left_the_group() -> None:
    leader = subprocess.Popen(
        ["bash", "-c", "setsid sleep 60 & sleep 60 & wait"], start_new_session=True
    )
    try:
        _wait_for_members(leader.pid, 2)  # bash and the sleep that stayed
        deadline = time.monotonic() + 10
        while len(tree_members(leader.pid)) < 3:
            assert time.monotonic() < deadline, "the setsid child never started"
            time.sleep(0.01)
        tree = {pid for pid, _name in tree_members(leader.pid)}
        (escaped,) = tree - {p.pid for p in group_processes(leader.pid)}
        assert reap_group(leader.pid, lambda members: True)
        assert process_info(escaped) is None
    finally:
        leader.kill()
        leader.wait()


def test_reap_group_leaves_a_group_that_is_not_ours(group: subprocess.Popen[bytes]) -> None:
    assert not reap_group(group.pid, lambda members: False)
    assert len(group_processes(group.pid)) == 3


def test_a_child_dies_when_the_thread_that_spawned_it_ends() -> None:
    children: list[subprocess.Popen[bytes]] = []
    spawner = threading.Thread(
        target=lambda: children.append(
            subprocess.Popen(["sleep", "60"], preexec_fn=die_with_parent())
        )
    )
    spawner.start()
    spawner.join()
    assert children[0].wait(timeout=10) == -9  # SIGKILL, from the kernel


@pytest.fixture
def cgroup_root() -> Iterator[Path]:
    """A private corner of the real memory cgroup hierarchy, laid out as Kiln's root."""
    root = Path("/sys/fs/cgroup/memory") / f"kiln-test-{uuid.uuid4().hex[:8]}"
    try:
        (root / "memory" / "kiln").mkdir(parents=True)
    except OSError as e:
        pytest.skip(f"cgroups cannot be created here: {e}")
    yield root
    for folder in sorted(root.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if folder.is_dir():
            folder.rmdir()
    root.rmdir()


def test_clearing_leftovers_kills_and_removes_this_homes_cgroups_only(cgroup_root: Path) -> None:
    kiln = cgroup_root / "memory" / "kiln"
    for folder in (kiln / "mine" / "idle", kiln / "mine" / "busy", kiln / "theirs" / "job"):
        folder.mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        (kiln / "mine" / "busy" / "cgroup.procs").write_text(str(sleeper.pid))
        removed = Cgroups("mine", root=cgroup_root).clear_leftovers()
        assert sorted(removed) == [kiln / "mine" / "busy", kiln / "mine" / "idle"]
        assert sleeper.wait(timeout=10) == -9
        assert (kiln / "theirs" / "job").is_dir()
    finally:
        sleeper.kill()
        sleeper.wait()
