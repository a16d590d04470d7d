"""A job host's staging plan: what its node fetches from S3 before the job's command runs, and
what it stores after (``kiln.runtime.host_agent`` carries it out where the process runs).

The server writes the plan; it is small whatever the data (channels are named by prefix or
manifest, and each node lists and shards them itself with the functions the server uses), so it
travels in one environment variable, ``KILN_HOST_PLAN``.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

PLAN_VARIABLE = "KILN_HOST_PLAN"
PYTHON = "{kiln-python}"
"""An ``argv`` item the agent replaces by the interpreter it chose (``requirements.txt``)."""
FAILED_PREFIX = "kiln-agent: failed: "
"""How the agent's own failure (not the script's) starts its last line on stderr."""
FAILURE_PREFIX = "kiln-agent: failure-file: "
"""How the agent passes on what the script wrote to ``/opt/ml/output/failure``."""
STAGING_FAILED = 86
"""The agent's exit code when staging failed before or after the command."""


@dataclass(frozen=True)
class ChannelFetch:
    """One channel, as this host gets it: every object, or its shard of the key-sorted list."""

    name: str
    uri: str
    data_type: str = "S3Prefix"
    host_index: int = 0
    host_count: int = 1
    sharded: bool = False


@dataclass(frozen=True)
class Unpack:
    """A tarball to expand into a folder of the workspace (the training code)."""

    uri: str
    folder: str


@dataclass(frozen=True)
class Mirror:
    """A folder kept in step with an S3 prefix: restored first, synced while the job runs."""

    folder: str
    uri: str


@dataclass(frozen=True)
class Pack:
    """A folder packed as ``.tar.gz`` to ``uri`` once the command ended (empty ones skipped
    unless ``always``)."""

    folder: str
    uri: str
    always: bool = False


@dataclass(frozen=True)
class HostPlan:
    """Everything one host does around its command, in workspace-relative paths."""

    argv: tuple[str, ...]
    cwd: str
    code: str = "code"
    """The code's folder: its ``requirements.txt`` goes into the environment the node builds."""
    channels: tuple[ChannelFetch, ...] = ()
    unpack: tuple[Unpack, ...] = ()
    files: dict[str, str] = field(default_factory=dict)
    checkpoints: Mirror | None = None
    pack: tuple[Pack, ...] = ()
    volume_bytes: int = 0
    """What the workspace may hold (0: no limit)."""
    phases: bool = False
    """Print a start-phase line (``{"kiln_phase": "download_model", …}``) per download,
    extraction and environment, as a replica's server reads them."""
    overfill: str = ""
    """The failure when an archive expands past ``volume_bytes``, in the server's words:
    ``{uri}``, ``{name}`` (its file name) and ``{folder}`` are filled in ("" : a plain one)."""
    outgrown: str = ""
    """The failure when the workspace is measured above ``volume_bytes`` while the command runs
    (the command is then killed), in the server's words: ``{used}`` (GiB) is filled in ("": not
    measured)."""
    image: str | None = None
    """The training image: which framework environment the node builds (with the code's
    ``requirements.txt``) for :data:`PYTHON`."""
    failure_file: str = "output/failure"
    sync_seconds: float = 2.0

    def dump(self) -> str:
        """The plan as JSON, for ``KILN_HOST_PLAN``."""
        return json.dumps(asdict(self))

    @classmethod
    def load(cls, text: str) -> HostPlan:
        """The plan ``dump`` wrote."""
        fields: dict[str, Any] = json.loads(text)
        checkpoints = fields.pop("checkpoints")
        return cls(
            argv=tuple(fields.pop("argv")),
            channels=tuple(ChannelFetch(**c) for c in fields.pop("channels")),
            unpack=tuple(Unpack(**u) for u in fields.pop("unpack")),
            checkpoints=None if checkpoints is None else Mirror(**checkpoints),
            pack=tuple(Pack(**p) for p in fields.pop("pack")),
            **fields,
        )
