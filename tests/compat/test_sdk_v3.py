"""The sagemaker SDK v3, unchanged, in its own virtualenv: a ModelTrainer job."""

from __future__ import annotations

from pathlib import Path

from .conftest import Clients
from .harness import ROLE, SCRIPTS, ClientVenv


def test_model_trainer_trains_through_sm_train_sh(
    clients: Clients, sdk_v3: ClientVenv, cancer_csv: Path, long_profile: None
) -> None:
    result, output = clients.run_script(
        [sdk_v3.python, SCRIPTS / "model_trainer_v3.py", cancer_csv, ROLE],
        timeout=900,
        SAGEMAKER_VALIDATE_ROLE="false",
    )
    assert result["status"] == "Completed"
    assert result["entrypoint"] == ["/bin/bash"]
    assert result["model"].endswith("/output/model.tar.gz")
    assert "train_accuracy=" in output  # train()'s default logs streamed the job's output
