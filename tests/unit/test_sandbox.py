"""The bwrap command line and the cgroup-joining wrapper."""

from __future__ import annotations

from pathlib import Path

from kiln.compute.cgroups import CgroupLimits, joining_argv
from kiln.compute.sandbox import bwrap_argv


def test_workspace_is_bound_at_opt_ml_and_home_is_hidden() -> None:
    argv = bwrap_argv(
        "bwrap",
        workspace=Path("/k/ws/job/algo-1"),
        hidden=Path("/k"),
        read_only=[Path("/k/envs")],
        cwd=Path("/opt/ml/code"),
        argv=["python", "train.py"],
    )
    assert argv[argv.index("--bind") + 1 : argv.index("--bind") + 3] == [
        "/k/ws/job/algo-1",
        "/opt/ml",
    ]
    assert argv.index("--tmpfs", argv.index("--proc")) < argv.index("/k/envs")
    assert argv[-3:] == ["--", "python", "train.py"]


def test_without_limits_the_command_runs_as_is() -> None:
    assert joining_argv(None, ["python", "x.py"]) == ["python", "x.py"]


def test_limits_wrap_the_command_in_a_joining_shell() -> None:
    limits = CgroupLimits((Path("/sys/fs/cgroup/memory/kiln/j"),))
    argv = joining_argv(limits, ["python", "x.py"])
    assert argv[-3:] == ["--", "python", "x.py"]
    assert "/sys/fs/cgroup/memory/kiln/j/cgroup.procs" in argv
