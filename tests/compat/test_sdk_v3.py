"""The sagemaker SDK v3, unchanged, in its own virtualenv: a ModelTrainer job, a ModelBuilder
deployment."""

from __future__ import annotations

from pathlib import Path

from conftest import sklearn_model_files, source_tarball

from .conftest import LONG_PROFILE_ONLY, Clients
from .harness import ROLE, SCRIPTS, ClientVenv

# SDK v3 builds its own client virtualenv and trains through sm_train.sh: ~80 s of a worker.
pytestmark = LONG_PROFILE_ONLY


def test_model_trainer_trains_through_sm_train_sh(
    clients: Clients, sdk_v3: ClientVenv, cancer_csv: Path
) -> None:
    result, output = clients.run_script(
        [sdk_v3.python, SCRIPTS / "model_trainer_v3.py", cancer_csv, ROLE],
        timeout=900,
    )
    assert result["status"] == "Completed"
    assert result["entrypoint"] == ["/bin/bash"]
    assert result["model"].endswith("/output/model.tar.gz")
    assert "train_accuracy=" in output  # train()'s default logs streamed the job's output


def test_model_builder_builds_deploys_and_invokes(
    clients: Clients, sdk_v3: ClientVenv, tmp_path: Path
) -> None:
    tarball = tmp_path / "model.tar.gz"
    tarball.write_bytes(source_tarball(sklearn_model_files()))
    result, _ = clients.run_script([sdk_v3.python, SCRIPTS / "model_builder_v3.py", tarball])
    assert result["status"] == "InService"
    assert result["answer"] in ([0], [1])
    assert result["role"] == "arn:aws:iam::000000000000:role/kiln"  # from the SDK config
