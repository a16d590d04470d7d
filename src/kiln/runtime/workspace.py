"""The ``/opt/ml`` training layout and the ``SM_*`` environment (CONTRACTS.md §1.2–1.5).

What sagemaker-training-toolkit builds inside a SageMaker container, built here for a job's
workspace folder. ``base`` is the path the job sees: ``/opt/ml`` inside a sandbox, else the
workspace folder itself. Importable without the server's dependencies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Hyperparameters the toolkit treats as its own rather than the user's (environment.py).
_FRAMEWORK_PARAMETERS = {
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output",
}


@dataclass(frozen=True)
class Layout:
    """The folders of one ``/opt/ml`` tree rooted at ``base``."""

    base: Path

    @property
    def input_dir(self) -> Path:
        return self.base / "input"

    @property
    def config_dir(self) -> Path:
        return self.base / "input" / "config"

    @property
    def data_dir(self) -> Path:
        return self.base / "input" / "data"

    @property
    def model_dir(self) -> Path:
        return self.base / "model"

    @property
    def output_dir(self) -> Path:
        return self.base / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.base / "output" / "data"

    @property
    def intermediate_dir(self) -> Path:
        return self.base / "output" / "intermediate"

    @property
    def failure_file(self) -> Path:
        return self.base / "output" / "failure"

    @property
    def checkpoints_dir(self) -> Path:
        return self.base / "checkpoints"

    @property
    def code_dir(self) -> Path:
        return self.base / "code"

    def channel_dir(self, channel: str) -> Path:
        """Where channel ``channel``'s data lives."""
        return self.data_dir / channel

    def create(self) -> None:
        """Make every folder of the tree."""
        for folder in (
            self.config_dir,
            self.data_dir,
            self.model_dir,
            self.output_data_dir,
            self.intermediate_dir,
            self.checkpoints_dir,
            self.code_dir,
        ):
            folder.mkdir(parents=True, exist_ok=True)


@dataclass(frozen=True)
class TrainingContext:
    """What a training process is told about its job and host."""

    job_name: str
    hyperparameters: Mapping[str, str]
    input_data_config: Mapping[str, Mapping[str, str]]
    current_host: str
    hosts: list[str]
    instance_type: str
    num_cpus: int
    num_gpus: int = 0
    framework_module: str | None = None

    def resource_config(self) -> dict[str, Any]:
        """The contents of ``resourceconfig.json``."""
        group = "homogeneousCluster"
        return {
            "current_host": self.current_host,
            "current_instance_type": self.instance_type,
            "current_group_name": group,
            "hosts": self.hosts,
            "instance_groups": [
                {
                    "instance_group_name": group,
                    "instance_type": self.instance_type,
                    "hosts": self.hosts,
                }
            ],
            "network_interface_name": "eth0",
        }


def config_files(context: TrainingContext) -> dict[str, str]:
    """The three ``input/config/*.json`` files: name → contents."""
    files = {
        "hyperparameters.json": dict(context.hyperparameters),
        "inputdataconfig.json": {k: dict(v) for k, v in context.input_data_config.items()},
        "resourceconfig.json": context.resource_config(),
    }
    return {name: json.dumps(content) for name, content in files.items()}


def write_config(layout: Layout, context: TrainingContext) -> None:
    """Write the three ``input/config/*.json`` files."""
    layout.config_dir.mkdir(parents=True, exist_ok=True)
    for name, text in config_files(context).items():
        (layout.config_dir / name).write_text(text)


def decode_hyperparameters(raw: Mapping[str, str]) -> dict[str, Any]:
    """Hyperparameter values JSON-decoded where they parse, as the toolkit does."""
    decoded: dict[str, Any] = {}
    for key, value in raw.items():
        try:
            decoded[key] = json.loads(value)
        except (TypeError, ValueError):
            decoded[key] = value
    return decoded


def split_hyperparameters(raw: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(user, framework)`` hyperparameters, decoded; ``sagemaker_*`` keys are the framework's."""
    user: dict[str, Any] = {}
    framework: dict[str, Any] = {}
    for key, value in decode_hyperparameters(raw).items():
        is_framework = key in _FRAMEWORK_PARAMETERS or key.startswith("sagemaker_")
        (framework if is_framework else user)[key] = value
    return user, framework


def user_args(hyperparameters: Mapping[str, Any]) -> list[str]:
    """The command-line arguments the toolkit passes: sorted ``--key value`` pairs."""
    args: list[str] = []
    for key in sorted(hyperparameters):
        value = hyperparameters[key]
        flag = f"-{key}" if len(key) == 1 else f"--{key}"
        if isinstance(value, dict):
            value = ",".join(f"{k}={v}" for k, v in value.items())
        args += [flag, str(value)]
    return args


def training_environment(layout: Layout, context: TrainingContext) -> dict[str, str]:
    """The ``SM_*`` variables sagemaker-training-toolkit exports, for this layout."""
    user, framework = split_hyperparameters(context.hyperparameters)
    program = str(framework.get("sagemaker_program", ""))
    module_dir = str(framework.get("sagemaker_submit_directory", layout.code_dir))
    channels = sorted(context.input_data_config)
    channel_dirs = {c: str(layout.channel_dir(c)) for c in channels}
    resource_config = context.resource_config()
    properties: dict[str, Any] = {
        "additional_framework_parameters": {
            k: v for k, v in framework.items() if k not in _FRAMEWORK_PARAMETERS
        },
        "channel_input_dirs": channel_dirs,
        "current_host": context.current_host,
        "current_instance_group": "homogeneousCluster",
        "current_instance_group_hosts": context.hosts,
        "current_instance_type": context.instance_type,
        "distribution_hosts": context.hosts,
        "distribution_instance_groups": ["homogeneousCluster"],
        "framework_module": context.framework_module,
        "hosts": context.hosts,
        "hyperparameters": user,
        "input_config_dir": str(layout.config_dir),
        "input_data_config": context.input_data_config,
        "input_dir": str(layout.input_dir),
        "instance_groups": ["homogeneousCluster"],
        "instance_groups_dict": {
            "homogeneousCluster": resource_config["instance_groups"][0],
        },
        "is_hetero": False,
        "is_master": context.current_host == context.hosts[0],
        "job_name": context.job_name,
        "log_level": int(framework.get("sagemaker_container_log_level", 20)),
        "master_hostname": context.hosts[0],
        "model_dir": str(layout.model_dir),
        "module_dir": module_dir,
        "module_name": program[:-3] if program.endswith(".py") else program,
        "network_interface_name": "eth0",
        "num_cpus": context.num_cpus,
        "num_gpus": context.num_gpus,
        "num_neurons": 0,
        "output_data_dir": str(layout.output_data_dir),
        "output_dir": str(layout.output_dir),
        "output_intermediate_dir": str(layout.intermediate_dir),
        "resource_config": resource_config,
        "user_entry_point": program,
    }
    env = {f"SM_{key.upper()}": _env_value(value) for key, value in properties.items()}
    env.update(
        {
            "SM_CHANNELS": _env_value(channels),
            "SM_HPS": _env_value(user),
            "SM_FRAMEWORK_PARAMS": env["SM_ADDITIONAL_FRAMEWORK_PARAMETERS"],
            "SM_USER_ARGS": _env_value(user_args(user)),
            "SM_TRAINING_ENV": _env_value({**properties, "user_args": user_args(user)}),
        }
    )
    env.update({f"SM_CHANNEL_{c.upper()}": d for c, d in channel_dirs.items()})
    env.update({f"SM_HP_{k.upper()}": _env_value(v) for k, v in user.items()})
    if context.framework_module is None:
        env.pop("SM_FRAMEWORK_MODULE")
    return env


def _env_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
