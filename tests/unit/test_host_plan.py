"""A host's staging plan travels as JSON; the distribution variables every host gets; the
agent's exit status."""

from __future__ import annotations

import json

import pytest

from kiln.runtime.host_agent import exit_status
from kiln.runtime.host_plan import ChannelFetch, HostPlan, Mirror, Pack, Unpack
from kiln.services.training.node_staging import distribution_environment


def test_a_plan_reads_back_as_it_was_written() -> None:
    plan = HostPlan(
        argv=("{kiln-python}", "train.py", "--epochs", "2"),
        cwd="code",
        channels=(ChannelFetch("train", "s3://d/t/", "S3Prefix", 1, 2, sharded=True),),
        unpack=(Unpack("s3://c/sourcedir.tar.gz", "code"),),
        files={"input/config/resourceconfig.json": "{}"},
        checkpoints=Mirror("checkpoints", "s3://ck/run"),
        pack=(Pack("model", "s3://o/j/output/kiln-hosts/algo-2/model.tar.gz", always=True),),
        volume_bytes=2**30,
        overfill="ClientError: {uri} expands to more than fits",
        outgrown="ClientError: the job wrote {used} GiB into /opt/ml on algo-2, more than fits",
        image="kiln/python",
    )
    assert HostPlan.load(plan.dump()) == plan


def test_a_plan_without_checkpoints_reads_back_without_them() -> None:
    plan = HostPlan(argv=("sh", "run.sh"), cwd="code")
    assert HostPlan.load(plan.dump()).checkpoints is None


def test_every_host_is_told_the_first_hosts_address_the_port_and_its_rank() -> None:
    first = distribution_environment("job-a", ["10.0.0.1", "10.0.0.2"], 0)
    second = distribution_environment("job-a", ["10.0.0.1", "10.0.0.2"], 1)
    assert first["MASTER_ADDR"] == second["MASTER_ADDR"] == "10.0.0.1"
    assert first["MASTER_PORT"] == second["MASTER_PORT"]
    assert (first["WORLD_SIZE"], first["RANK"], second["RANK"]) == ("2", "0", "1")
    assert json.loads(first["KILN_HOST_ADDRESSES"]) == {"algo-1": "10.0.0.1", "algo-2": "10.0.0.2"}


def test_each_job_gets_its_own_port_in_a_fixed_range() -> None:
    ports = {distribution_environment(f"job-{i}", ["h"], 0)["MASTER_PORT"] for i in range(50)}
    assert len(ports) > 40
    assert all(20000 <= int(port) < 29000 for port in ports)


@pytest.mark.parametrize(("code", "status"), [(0, 0), (1, 1), (86, 86), (-9, 137), (-15, 143)])
def test_the_agent_exits_as_a_shell_does_for_a_command_killed_by_a_signal(
    code: int, status: int
) -> None:
    assert exit_status(code) == status
