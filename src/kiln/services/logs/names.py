"""Where SageMaker puts its logs (CONTRACTS.md §3.10), and Kiln with it.

/aws/sagemaker/TrainingJobs          <job>/algo-<n>-<epoch seconds the job started>
/aws/sagemaker/Endpoints/<endpoint>  <variant>/<replica id>
"""

from __future__ import annotations

import re

TRAINING_JOBS_GROUP = "/aws/sagemaker/TrainingJobs"
_HOST = re.compile(r"(algo-\d+)-\d+$")


def training_stream(job: str, host: str, started: int) -> str:
    """The stream of one host of a training job, e.g. ``my-job/algo-1-1718000000``."""
    return f"{job}/{host}-{started}"


def host_of(stream: str) -> str:
    """The host a training stream belongs to (``algo-1``); the name itself if not one."""
    match = _HOST.search(stream)
    return match.group(1) if match else stream


def endpoint_group(endpoint: str) -> str:
    """The group of an endpoint's replicas."""
    return f"/aws/sagemaker/Endpoints/{endpoint}"


def replica_stream(variant: str, replica_id: str) -> str:
    """The stream of one replica of a variant."""
    return f"{variant}/{replica_id}"
