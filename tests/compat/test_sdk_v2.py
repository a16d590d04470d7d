"""The sagemaker SDK v2, unchanged, in its own virtualenv: a notebook run as a script."""

from __future__ import annotations

from pathlib import Path

from .conftest import LONG_PROFILE_ONLY, Clients
from .harness import ROLE, SCRIPTS, ClientVenv

# 140 s of CI's 20 minutes: the long profile (make compat). The short profile keeps the unchanged
# SDK v2 through Model Monitor (test_sdk_v2_model_monitor.py) and the aws CLI (test_awscli.py).
pytestmark = LONG_PROFILE_ONLY

MALIGNANT = [0, 0, 0]  # the classes of the breast-cancer data's first three rows


def test_notebook_trains_attaches_deploys_predicts_and_repacks(
    clients: Clients, sdk_v2: ClientVenv, cancer_csv: Path
) -> None:
    result, output = clients.run_script(
        [sdk_v2.python, SCRIPTS / "notebook_v2.py", cancer_csv, ROLE], timeout=900
    )
    assert result["bucket"] == "kiln-default"
    assert result["train_uri"] == "s3://kiln-default/compat-v2/cancer"
    assert "train_accuracy=" in output  # fit()'s default logs streamed the job's own output
    assert result["attached_model_data"] == result["model_data"]
    assert [int(v) for v in result["npy"]] == MALIGNANT
    assert [int(v) for v in result["csv"]] == MALIGNANT
    assert [int(v) for v in result["json"]] == MALIGNANT
    assert result["repacked"]["predictions"] == MALIGNANT
    assert result["repacked_environment"]["SAGEMAKER_SUBMIT_DIRECTORY"] == "/opt/ml/model/code"
    assert result["repacked_environment"]["SAGEMAKER_PROGRAM"] == "inference.py"
