"""A training job's hosts when they stage their own files (a cluster's nodes): each host's plan
for ``kiln.runtime.host_agent``, the distribution variables every host gets, and the model
archives the hosts stored (pure, but for ``merge_host_archives``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

from kiln.runtime.archives import pack, safe_extract
from kiln.runtime.host_plan import ChannelFetch, HostPlan, Mirror, Pack, Unpack
from kiln.services.volumes import (
    DEFAULT_TRAINING_VOLUME_GB,
    outgrown_reason,
    training_volume_reason,
    volume_bytes,
)
from kiln.shapes.training import TrainingJobSpec
from kiln.storage import ObjectNotFoundError, ObjectStore, S3Uri

HOSTS_FOLDER = "kiln-hosts"
"""Under a job's output: where each host stores its archives before the server merges them."""
_PORTS = (20000, 29000)


def host_archive(output: S3Uri, host: str, name: str) -> S3Uri:
    """Where ``host`` stores its ``name`` archive (``model.tar.gz``, ``output.tar.gz``)."""
    return output.join(HOSTS_FOLDER, host, name)


def channel_fetches(
    spec: TrainingJobSpec, host_index: int, host_count: int
) -> tuple[ChannelFetch, ...]:
    """The job's channels as host ``host_index`` of ``host_count`` fetches them."""
    fetches = []
    for channel in spec.input_data_config:
        source_of = channel.data_source.s3_data_source
        assert source_of is not None  # checked at create
        fetches.append(
            ChannelFetch(
                name=channel.channel_name,
                uri=source_of.s3_uri,
                data_type=source_of.s3_data_type,
                host_index=host_index,
                host_count=host_count,
                sharded=source_of.s3_data_distribution_type == "ShardedByS3Key",
            )
        )
    return tuple(fetches)


def host_plan(
    spec: TrainingJobSpec,
    *,
    argv: Sequence[str],
    output: S3Uri,
    host: str,
    host_index: int,
    host_count: int,
    config: Mapping[str, str],
    source: S3Uri | None,
    volume_gb: int,
) -> HostPlan:
    """What host ``host`` (``host_index`` of ``host_count``) does around its command."""
    channels = channel_fetches(spec, host_index, host_count)
    checkpoints = None
    if spec.checkpoint_config is not None:
        folder = Path(spec.checkpoint_config.local_path).relative_to("/opt/ml").as_posix()
        checkpoints = Mirror(folder, spec.checkpoint_config.s3_uri)
    return HostPlan(
        argv=tuple(argv),
        cwd="code",
        channels=tuple(channels),
        unpack=() if source is None else (Unpack(str(source), "code"),),
        files={f"input/config/{name}": text for name, text in config.items()},
        checkpoints=checkpoints,
        pack=(
            Pack("model", str(host_archive(output, host, "model.tar.gz")), always=True),
            Pack("output/data", str(host_archive(output, host, "output.tar.gz"))),
        ),
        volume_bytes=volume_bytes(volume_gb, DEFAULT_TRAINING_VOLUME_GB),
        overfill=training_volume_reason("{uri} expands to", volume_gb),
        outgrown=outgrown_reason("{used}", host, volume_gb),
        image=spec.algorithm_specification.training_image,
    )


def distribution_environment(job: str, addresses: Sequence[str], rank: int) -> dict[str, str]:
    """What torch.distributed's ``env://`` and the toolkits read: the first host's real
    address and a port for the job, the world size and this host's rank, and every host's
    address (``KILN_HOST_ADDRESSES``, by host name)."""
    low, high = _PORTS
    port = low + zlib.crc32(job.encode()) % (high - low)
    names = {f"algo-{i + 1}": address for i, address in enumerate(addresses)}
    return {
        "MASTER_ADDR": addresses[0],
        "MASTER_PORT": str(port),
        "WORLD_SIZE": str(len(addresses)),
        "RANK": str(rank),
        "KILN_HOST_ADDRESSES": json.dumps(names),
    }


def merge_host_archives(
    objects: ObjectStore, output: S3Uri, hosts: Sequence[str], name: str, scratch: Path
) -> S3Uri | None:
    """One ``name`` archive at ``output`` from the hosts' (later hosts overwrite earlier ones,
    as SageMaker merges); None when no host stored one. The hosts' archives are removed."""
    merged = Path(tempfile.mkdtemp(prefix=f"merged-{name}-", dir=scratch))
    found = False
    for host in hosts:
        uri = host_archive(output, host, name)
        archive = merged.with_suffix(".part")
        try:
            objects.download_file(uri, archive)
        except ObjectNotFoundError:
            continue
        found = True
        safe_extract(archive, merged)
        archive.unlink()
        objects.delete(uri)
    if not found:
        shutil.rmtree(merged, ignore_errors=True)
        return None
    target = output.join(name)
    packed = merged.with_suffix(".tar.gz")
    pack(merged, packed)
    objects.upload_file(packed, target)
    packed.unlink()
    shutil.rmtree(merged, ignore_errors=True)
    return target
