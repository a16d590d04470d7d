"""SageMaker SDK v3: ``ModelTrainer(...).train()`` with default waiting and logs, as a script.

    python model_trainer_v3.py DATA_DIR ROLE_ARN

v3 ships the code as an S3 prefix plus an ``sm_drivers`` channel, and runs it through
``ContainerEntrypoint`` (``/bin/bash -c … sm_train.sh``), not the v2 hyperparameters
(CONTRACTS.md §1.10).
Last line: ``RESULT {json}``.
"""

import json
import logging
import os
import sys

from sagemaker.core.helper.session_helper import Session
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, SourceCode

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
data_dir, role = sys.argv[1], sys.argv[2]

# v3 writes the job's log lines through its "sagemaker" loggers at INFO; a notebook shows them,
# a script has to say so.
logging.basicConfig(level=logging.INFO)

session = Session()
print("default bucket:", session.default_bucket())
uri = session.upload_data(data_dir, key_prefix="compat-v3/cancer")
print("training data:", uri)
trainer = ModelTrainer(
    training_image=IMAGE,
    source_code=SourceCode(
        source_dir=os.path.join(HERE, "sklearn_cancer"), entry_script="train.py"
    ),
    compute=Compute(instance_type="ml.m5.large", instance_count=1),
    role=role,
    base_job_name="compat-v3",
    hyperparameters={"n-estimators": 10},
)
trainer.train(input_data_config=[InputData(channel_name="train", data_source=uri)])
job = trainer._latest_training_job
job.refresh()
result = {
    "job": job.training_job_name,
    "status": job.training_job_status,
    "model": job.model_artifacts.s3_model_artifacts,
    "entrypoint": job.algorithm_specification.container_entrypoint,
}
print("RESULT " + json.dumps(result), flush=True)
