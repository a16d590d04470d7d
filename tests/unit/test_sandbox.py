"""The bwrap command line, the mounts it is built from, and whether to sandbox at all."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.compute.cgroups import CgroupLimits, joining_argv
from kiln.compute.sandbox import (
    Exposure,
    HostEntry,
    bwrap_argv,
    plan_mounts,
    require_sandbox,
    root_only_paths,
    unsandboxed_reason,
)
from kiln.errors import SandboxUnavailableError

DIR, FILE = HostEntry("dir"), HostEntry("file")
HOST = {
    Path("/usr"): DIR,
    Path("/bin"): HostEntry("link", "usr/bin"),
    Path("/etc"): DIR,
    Path("/etc/shadow"): FILE,
    Path("/etc/ssl/private"): DIR,
    Path("/opt/tools"): DIR,
    Path("/opt/tools/kiln-home"): DIR,
    Path("/venv"): DIR,
    Path("/k"): DIR,
    Path("/k/envs/abc"): DIR,
}
WORKSPACE = Path("/k/workspaces/job/algo-1")


def _plan(
    system: list[str] | None = None,
    environment: list[str] | None = None,
    private: list[str] | None = None,
    root_only: list[str] | None = None,
) -> list[tuple[str, ...]]:
    exposure = Exposure(
        [Path(p) for p in system or ["/usr", "/bin", "/etc", "/opt/tools"]],
        [Path(p) for p in environment or []],
        [Path(p) for p in private or ["/k"]],
        [Path(p) for p in root_only or []],
    )
    return plan_mounts(HOST, exposure, WORKSPACE)


@pytest.mark.parametrize(
    ("op", "expected"),
    [
        # system folders are bound read-only, links recreated as links
        (("--ro-bind", "/usr", "/usr"), True),
        (("--symlink", "usr/bin", "/bin"), True),
        # the workspace is the only host folder bound read-write, at /opt/ml
        (("--bind", str(WORKSPACE), "/opt/ml"), True),
        # KILN_HOME lies under no allowed path: it is simply not there, no mask needed
        (("--tmpfs", "/k"), False),
        (("--ro-bind", "/k", "/k"), False),
        # private /tmp, /proc and /dev; the root itself ends read-only
        (("--tmpfs", "/tmp"), True),
        (("--proc", "/proc"), True),
        # root without capabilities could still write the kernel's settings
        (("--ro-bind", "/proc/sys", "/proc/sys"), True),
        (("--remount-ro", "/"), True),
    ],
)
def test_plan_holds_each_expected_mount(op: tuple[str, ...], expected: bool) -> None:
    assert (op in _plan()) is expected


def test_paths_missing_on_the_host_are_left_out() -> None:
    assert not any("/lib32" in op for op in _plan(system=["/usr", "/lib32"]))


def test_environment_inside_kiln_home_is_bound_read_only() -> None:
    plan = _plan(environment=["/venv", "/k/envs/abc"])
    assert ("--ro-bind", "/venv", "/venv") in plan
    assert ("--ro-bind", "/k/envs/abc", "/k/envs/abc") in plan


def test_private_path_under_an_allowed_one_is_masked_before_what_it_exposes() -> None:
    plan = _plan(private=["/opt/tools/kiln-home"], environment=["/opt/tools/kiln-home/envs"])
    mask = plan.index(("--tmpfs", "/opt/tools/kiln-home"))
    assert plan.index(("--ro-bind", "/opt/tools", "/opt/tools")) < mask
    assert ("--remount-ro", "/opt/tools/kiln-home") in plan[mask:]


def test_root_only_files_and_folders_in_etc_are_masked() -> None:
    plan = _plan(root_only=["/etc/shadow", "/etc/ssl/private"])
    assert ("--ro-bind", "/dev/null", "/etc/shadow") in plan
    assert plan.index(("--tmpfs", "/etc/ssl/private")) > plan.index(("--ro-bind", "/etc", "/etc"))


def test_paths_inside_a_bound_folder_are_not_bound_twice() -> None:
    plan = _plan(environment=["/usr", "/usr/lib/python3"])
    assert [op for op in plan if "/usr/lib/python3" in op] == []
    assert plan.count(("--ro-bind", "/usr", "/usr")) == 1


def test_workspace_is_bound_after_every_mask_and_before_the_root_is_made_read_only() -> None:
    plan = _plan(root_only=["/etc/shadow"])
    workspace = plan.index(("--bind", str(WORKSPACE), "/opt/ml"))
    assert workspace > plan.index(("--ro-bind", "/dev/null", "/etc/shadow"))
    assert plan[-1] == ("--remount-ro", "/")


def test_argv_seals_the_process_and_runs_the_command_last() -> None:
    argv = bwrap_argv("bwrap", [("--proc", "/proc")], Path("/opt/ml/code"), ["python", "t.py"])
    for flag in ("--unshare-pid", "--unshare-ipc", "--new-session", "--die-with-parent"):
        assert flag in argv
    assert argv[argv.index("--cap-drop") + 1] == "ALL"
    assert "--unshare-net" not in argv  # jobs reach the API and the store on loopback
    assert argv[argv.index("--chdir") + 1] == "/opt/ml/code"
    assert argv[-3:] == ["--", "python", "t.py"]


def test_only_what_the_world_may_not_read_is_root_only(tmp_path: Path) -> None:
    (tmp_path / "hosts").write_text("127.0.0.1 localhost")
    (tmp_path / "shadow").write_text("root:$6$…")
    (tmp_path / "shadow").chmod(0o640)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "key.pem").write_text("key")
    # the folder is masked whole, so nothing inside it is listed
    assert set(root_only_paths(tmp_path)) == {private, tmp_path / "shadow"}


@pytest.mark.parametrize(
    ("mode", "bwrap", "problem", "reason"),
    [
        ("auto", "/usr/bin/bwrap", None, None),
        ("required", "/usr/bin/bwrap", None, None),
        ("off", "/usr/bin/bwrap", None, "KILN_SANDBOX=off"),
        ("auto", None, None, "bubblewrap (bwrap) is not installed"),
        ("auto", "/b", "No permissions", "bwrap cannot create a sandbox here (No permissions)"),
    ],
)
def test_unsandboxed_reason(
    mode: str, bwrap: str | None, problem: str | None, reason: str | None
) -> None:
    assert unsandboxed_reason(mode, bwrap, problem) == reason


def test_required_sandbox_refuses_without_bwrap_naming_the_setting_and_the_fix() -> None:
    with pytest.raises(SandboxUnavailableError, match="KILN_SANDBOX=required.*install bubblewrap"):
        require_sandbox("required", "bubblewrap (bwrap) is not installed")


def test_auto_sandbox_accepts_running_without_bwrap() -> None:
    require_sandbox("auto", "bubblewrap (bwrap) is not installed")


def test_without_limits_the_command_runs_as_is() -> None:
    assert joining_argv(None, ["python", "x.py"]) == ["python", "x.py"]


def test_limits_wrap_the_command_in_a_joining_shell() -> None:
    limits = CgroupLimits((Path("/sys/fs/cgroup/memory/kiln/j"),))
    argv = joining_argv(limits, ["python", "x.py"])
    assert argv[-3:] == ["--", "python", "x.py"]
    assert "/sys/fs/cgroup/memory/kiln/j/cgroup.procs" in argv
