"""SageMaker SDK v3: ``ModelBuilder(...).build()`` → ``deploy()`` → ``invoke()``, as a script.

    python model_builder_v3.py MODEL_TARBALL

The model is a scikit-learn forest in ``model.tar.gz``, served by the framework defaults (no
inference code). Last line: ``RESULT {json}``.
"""

import json
import logging
import sys
import time

from sagemaker.core.helper.session_helper import Session
from sagemaker.serve.model_builder import ModelBuilder

logging.basicConfig(level=logging.INFO)
tarball = sys.argv[1]

session = Session()
uri = session.upload_data(tarball, key_prefix="compat-v3/model")
print("model data:", uri)
builder = ModelBuilder(
    s3_model_data_url=uri,
    image_uri="kiln/python",
    instance_type="ml.m5.large",
)
model = builder.build()
print("model:", model.model_name)
endpoint_name = f"compat-v3-builder-{int(time.time())}"
endpoint = builder.deploy(endpoint_name=endpoint_name, initial_instance_count=1)
print("endpoint:", endpoint.endpoint_name, endpoint.endpoint_status)
row = ",".join(["1.0"] * 30)
answer = endpoint.invoke(body=row, content_type="text/csv", accept="application/json")
result = {
    "status": endpoint.endpoint_status,
    "answer": json.loads(answer.body.read()),
    "role": model.execution_role_arn,
}
endpoint.delete()
print("RESULT " + json.dumps(result), flush=True)
