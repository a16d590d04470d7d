"""The patterns of AWS's script-mode examples, through the unchanged SDK v2, waiting with boto3.

    python examples_v2.py PATTERN DATA_DIR ROLE_ARN
    # PATTERN: iris, housing, xgboost, pytorch, pytorch_without_torch

``fit(wait=False)`` and ``deploy(wait=False)`` with boto3's waiters polling every second: the
SDK's own waits sleep tens of seconds before their first look. Last line: ``RESULT {json}``.
"""

import json
import os
import sys

import sagemaker
from botocore.exceptions import WaiterError
from sagemaker.deserializers import JSONDeserializer
from sagemaker.model import Model
from sagemaker.predictor import Predictor
from sagemaker.serializers import CSVSerializer

HERE = os.path.dirname(os.path.abspath(__file__))
pattern, data_dir, role = sys.argv[1], sys.argv[2], sys.argv[3]
session = sagemaker.Session()
client = session.sagemaker_client
FAST = {"Delay": 1, "MaxAttempts": 600}


def trained(estimator, channel_uri):
    estimator.fit({"train": channel_uri}, wait=False)
    job = estimator.latest_training_job.name
    try:
        client.get_waiter("training_job_completed_or_stopped").wait(
            TrainingJobName=job, WaiterConfig=FAST
        )
    except WaiterError:
        pass  # Failed is an end too: its reason is printed below
    described = client.describe_training_job(TrainingJobName=job)
    print("job", job, described["TrainingJobStatus"], described.get("FailureReason", ""))
    if described["TrainingJobStatus"] != "Completed":
        sys.exit(f"training job {job} ended {described['TrainingJobStatus']}")
    return estimator


def served(predictor_or_name, rows):
    name = getattr(predictor_or_name, "endpoint_name", predictor_or_name)
    client.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST)
    predictor = Predictor(name, serializer=CSVSerializer(), deserializer=JSONDeserializer())
    answer = predictor.predict(rows)
    print("answer:", answer)
    predictor.delete_model()
    predictor.delete_endpoint()
    return answer


def rows_of(path, skip_header=False, drop_first=True):
    lines = open(path).read().splitlines()[1 if skip_header else 0 :][:3]
    rows = [line.split(",") for line in lines]
    return [[float(v) for v in (r[1:] if drop_first else r[:-1])] for r in rows]


def iris():
    from sagemaker.sklearn import SKLearn

    uri = session.upload_data(os.path.join(data_dir, "iris.csv"), key_prefix="examples/iris/train")
    estimator = SKLearn(
        entry_point="train.py",
        source_dir=os.path.join(HERE, "iris"),
        framework_version="1.2-1",
        instance_type="ml.m5.large",
        role=role,
        hyperparameters={"max_leaf_nodes": 10},
    )
    trained(estimator, uri.rsplit("/", 1)[0])
    predictor = estimator.deploy(1, "ml.m5.large", wait=False)
    return served(predictor, rows_of(os.path.join(data_dir, "iris.csv")))


def housing():
    from sagemaker.sklearn import SKLearn

    uri = session.upload_data(
        os.path.join(data_dir, "train.csv"), key_prefix="examples/housing/csv"
    )
    channel = uri[: -len(".csv")]  # s3://…/csv/train: a prefix that matches csv/train.csv
    print("object", uri, "channel", channel)
    estimator = SKLearn(
        entry_point="train.py",
        source_dir=os.path.join(HERE, "housing"),
        framework_version="1.2-1",
        instance_type="ml.m5.large",
        role=role,
    )
    trained(estimator, channel)
    predictor = estimator.deploy(1, "ml.m5.large", wait=False)
    path = os.path.join(data_dir, "train.csv")
    return served(predictor, rows_of(path, skip_header=True, drop_first=False))


def xgboost():
    from sagemaker.xgboost import XGBoost

    csv = os.path.join(data_dir, "frame.csv")
    uri = session.upload_data(csv, key_prefix="examples/xgb/train")
    estimator = XGBoost(
        entry_point="train.py",
        source_dir=os.path.join(HERE, "xgboost_dataframe"),
        framework_version="1.7-1",
        instance_type="ml.m5.large",
        instance_count=1,
        role=role,
    )
    trained(estimator, uri.rsplit("/", 1)[0])
    predictor = estimator.deploy(1, "ml.m5.large", wait=False)
    path = os.path.join(data_dir, "frame.csv")
    return served(predictor, rows_of(path, skip_header=True, drop_first=False))


def pytorch():
    from sagemaker.pytorch import PyTorch

    csv = os.path.join(data_dir, "iris.csv")
    uri = session.upload_data(csv, key_prefix="examples/torch/train")
    estimator = PyTorch(
        entry_point="train.py",
        source_dir=os.path.join(HERE, "pytorch_code_in_model"),
        framework_version="2.1",
        py_version="py310",
        instance_type="ml.m5.large",
        instance_count=1,
        role=role,
    )
    trained(estimator, uri.rsplit("/", 1)[0])
    image = sagemaker.image_uris.retrieve(
        "pytorch",
        session.boto_region_name,
        version="2.1",
        py_version="py310",
        instance_type="ml.m5.large",
        image_scope="inference",
    )
    model = Model(
        image_uri=image,
        model_data=estimator.model_data,
        role=role,
        env={
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
        },
    )
    name = sagemaker.utils.name_from_base("compat-torch")
    model.deploy(1, "ml.m5.large", endpoint_name=name, wait=False)
    return served(name, [[1.0, 2.0, 3.0, 4.0]])


def pytorch_without_torch():
    from sagemaker.pytorch import PyTorch, PyTorchModel

    source = os.path.join(HERE, "pytorch_without_torch")
    csv = os.path.join(data_dir, "iris.csv")
    uri = session.upload_data(csv, key_prefix="examples/torchless/train")
    estimator = PyTorch(
        entry_point="train.py",
        source_dir=source,
        framework_version="2.1",
        py_version="py310",
        instance_type="ml.m5.large",
        instance_count=1,
        role=role,
    )
    trained(estimator, uri.rsplit("/", 1)[0])
    model = PyTorchModel(
        model_data=estimator.model_data,
        entry_point="inference.py",
        source_dir=source,
        framework_version="2.1",
        py_version="py310",
        role=role,
    )
    name = sagemaker.utils.name_from_base("compat-torchless")
    model.deploy(1, "ml.m5.large", endpoint_name=name, wait=False)
    return served(name, [[1.0, 2.0, 3.0, 4.0]])


result = {"pattern": pattern, "answer": globals()[pattern]()}
print("RESULT " + json.dumps(result), flush=True)
