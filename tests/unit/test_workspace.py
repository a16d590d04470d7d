"""The SM_* environment and config files, as sagemaker-training-toolkit builds them."""

from __future__ import annotations

import json
from pathlib import Path

from kiln.runtime.workspace import (
    Layout,
    TrainingContext,
    decode_hyperparameters,
    training_environment,
    user_args,
    write_config,
)


def _context(**hyperparameters: str) -> TrainingContext:
    return TrainingContext(
        job_name="job-1",
        hyperparameters={"sagemaker_program": '"train.py"', **hyperparameters},
        input_data_config={"train": {"TrainingInputMode": "File"}, "eval": {}},
        current_host="algo-1",
        hosts=["algo-1", "algo-2"],
        instance_type="ml.m5.large",
        num_cpus=2,
    )


def test_hyperparameters_are_json_decoded_where_they_parse() -> None:
    decoded = decode_hyperparameters({"a": "3", "b": '"x"', "c": "plain", "d": "true"})
    assert decoded == {"a": 3, "b": "x", "c": "plain", "d": True}


def test_user_args_are_sorted_with_short_flags_for_single_letters() -> None:
    assert user_args({"lr": 0.1, "a": True, "epochs": 3}) == [
        "-a", "True", "--epochs", "3", "--lr", "0.1"
    ]  # fmt: skip


def test_dict_values_become_comma_separated_pairs() -> None:
    assert user_args({"opts": {"k1": 1, "k2": "v"}}) == ["--opts", "k1=1,k2=v"]


def test_environment_points_at_the_layout() -> None:
    env = training_environment(Layout(Path("/opt/ml")), _context(epochs="3"))
    assert env["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert env["SM_CHANNELS"] == '["eval","train"]'
    assert env["SM_OUTPUT_DATA_DIR"] == "/opt/ml/output/data"
    assert env["SM_HOSTS"] == '["algo-1","algo-2"]'
    assert env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_USER_ENTRY_POINT"] == "train.py"
    assert env["SM_MODULE_NAME"] == "train"


def test_framework_hyperparameters_are_kept_out_of_the_users() -> None:
    env = training_environment(
        Layout(Path("/opt/ml")), _context(epochs="3", sagemaker_mpi_enabled="true")
    )
    assert json.loads(env["SM_HPS"]) == {"epochs": 3}
    assert env["SM_HP_EPOCHS"] == "3"
    assert "SM_HP_SAGEMAKER_PROGRAM" not in env
    assert json.loads(env["SM_FRAMEWORK_PARAMS"]) == {"sagemaker_mpi_enabled": True}


def test_training_env_is_one_json_document() -> None:
    env = training_environment(Layout(Path("/opt/ml")), _context())
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["job_name"] == "job-1"
    assert training_env["channel_input_dirs"]["eval"] == "/opt/ml/input/data/eval"


def test_config_files_have_the_documented_shapes(tmp_path: Path) -> None:
    layout = Layout(tmp_path)
    write_config(layout, _context(epochs="3"))
    resource = json.loads((layout.config_dir / "resourceconfig.json").read_text())
    assert {"current_host", "current_instance_type", "hosts", "network_interface_name"} <= set(
        resource
    )
    assert resource["current_group_name"] == "homogeneousCluster"
    hyper = json.loads((layout.config_dir / "hyperparameters.json").read_text())
    assert hyper["epochs"] == "3"
    channels = json.loads((layout.config_dir / "inputdataconfig.json").read_text())
    assert channels["train"] == {"TrainingInputMode": "File"}
