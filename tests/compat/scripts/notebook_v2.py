"""A SageMaker SDK v2 notebook, as a script: train, attach, deploy, predict, repack, clean up.

Nothing here knows about Kiln: the endpoints, region, credentials, default bucket and telemetry
opt-out come from the environment and the SDK config file, as they would for AWS.

    python notebook_v2.py DATA_DIR ROLE_ARN

Prints each step, the SDK's own training log (``fit()`` with default logs), and on its last line
``RESULT {json}`` with what the test checks.
"""

import json
import os
import sys
import time

import numpy as np
import sagemaker
from sagemaker.deserializers import JSONDeserializer
from sagemaker.model import Model
from sagemaker.predictor import Predictor
from sagemaker.serializers import CSVSerializer, JSONSerializer
from sagemaker.sklearn import SKLearn

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "sklearn_cancer")
data_dir, role = sys.argv[1], sys.argv[2]
result = {}


def step(text):
    print(f"\n### {text}", flush=True)


step("Session() and the default bucket from the SDK config")
session = sagemaker.Session()
result["bucket"] = session.default_bucket()
print("default bucket:", result["bucket"], "region:", session.boto_region_name)

step("upload_data with no bucket")
train_uri = session.upload_data(data_dir, key_prefix="compat-v2/cancer")
print("training data:", train_uri)
result["train_uri"] = train_uri

step("SKLearn(...).fit() with default logs")
estimator = SKLearn(
    entry_point="train.py",
    source_dir=SOURCE,
    framework_version="1.2-1",
    instance_type="ml.m5.large",
    instance_count=1,
    role=role,
    hyperparameters={"n-estimators": 20},
)
started = time.monotonic()
estimator.fit({"train": train_uri})
result["fit_seconds"] = round(time.monotonic() - started, 1)
job = estimator.latest_training_job.name
result["job"] = job
result["model_data"] = estimator.model_data
print("job:", job, "model:", estimator.model_data)

step("SKLearn.attach(job) and deploy()")
attached = SKLearn.attach(job)
result["attached_model_data"] = attached.model_data
started = time.monotonic()
predictor = attached.deploy(initial_instance_count=1, instance_type="ml.m5.large")
result["deploy_seconds"] = round(time.monotonic() - started, 1)
print("endpoint:", predictor.endpoint_name)

rows = np.loadtxt(os.path.join(data_dir, "train.csv"), delimiter=",")[:3, 1:]

step("predict with the default serializer (NumPy)")
answer = predictor.predict(rows)
print("npy answer:", repr(answer))
result["npy"] = np.asarray(answer).tolist()

step("predict with CSVSerializer + JSONDeserializer")
predictor.serializer, predictor.deserializer = CSVSerializer(), JSONDeserializer()
result["csv"] = predictor.predict(rows)
print("csv answer:", result["csv"])

step("predict with JSONSerializer + JSONDeserializer")
predictor.serializer = JSONSerializer()
result["json"] = predictor.predict(rows.tolist())
print("json answer:", result["json"])

step("delete_model() and delete_endpoint() (the model first: its name comes from the config)")
predictor.delete_model()
predictor.delete_endpoint()

step("Model(image_uri, model_data, entry_point, source_dir).deploy(): the SDK repacks the code")
image = sagemaker.image_uris.retrieve(
    "sklearn",
    session.boto_region_name,
    version="1.2-1",
    instance_type="ml.m5.large",
    image_scope="inference",
)
model = Model(
    image_uri=image,
    model_data=estimator.model_data,
    entry_point="inference.py",
    source_dir=SOURCE,
    role=role,
    sagemaker_session=session,
)
endpoint = f"compat-v2-repack-{int(time.time())}"
model.deploy(initial_instance_count=1, instance_type="ml.m5.large", endpoint_name=endpoint)
description = session.sagemaker_client.describe_model(ModelName=model.name)
result["repacked_environment"] = description["PrimaryContainer"].get("Environment", {})
result["repacked_model_data"] = description["PrimaryContainer"].get("ModelDataUrl")
repacked = Predictor(endpoint, serializer=CSVSerializer(), deserializer=JSONDeserializer())
result["repacked"] = repacked.predict(rows)
print("repacked answer:", result["repacked"])
repacked.delete_model()
repacked.delete_endpoint()

print("RESULT " + json.dumps(result), flush=True)
