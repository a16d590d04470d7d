"""InvokeEndpoint fuzzed: requests from botocore's model of sagemaker-runtime through boto3, and
raw invocations of any bytes under any headers, to the endpoint that serves a model (LIVE) and
to endpoints that do not exist. Each answer must be below 500 and carry no traceback; an
error names its type (``x-amzn-ErrorType``) and says why in JSON."""

from __future__ import annotations

from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from .conftest import Target, boto3_answer, check_invocation_parts
from .strategies import LIVE, NAMES, mostly, requests

# Header values: any latin-1 character but controls (RFC 9110's field content), and rarely one.
HEADER_VALUES = mostly(
    st.text(st.characters(codec="latin-1", exclude_categories=["Cc"]), max_size=40),
    st.text(st.characters(codec="latin-1", exclude_characters="\r\n\x00"), max_size=40),
)
HEADERS = st.dictionaries(
    st.sampled_from(
        [
            "Content-Type",
            "Accept",
            "X-Amzn-SageMaker-Custom-Attributes",
            "X-Amzn-SageMaker-Target-Variant",
            "X-Amzn-SageMaker-Inference-Id",
            "Content-Encoding",
        ]
    ),
    st.one_of(st.sampled_from(["application/json", "text/csv", NAMES[0]]), HEADER_VALUES),
)
# The served forest takes rows of 30 numbers: one such row, near misses, and any bytes.
ROW = ",".join(["1.5"] * 30)
BODIES = st.one_of(
    st.binary(max_size=2048),
    st.sampled_from(
        [f"[[{ROW}]]".encode(), f"{ROW}\n{ROW}".encode(), b"[[1, 2, 3]]", b"[]", b"[[]]", b"1e999"]
    ),
)


@given(data=st.data())
def test_invoke_endpoint_requests_from_the_input_shape_get_runtime_answers(
    fuzz_kiln: Target, data: st.DataObject
) -> None:
    params = data.draw(requests("sagemaker-runtime", "InvokeEndpoint"), label="params")
    if "EndpointName" in params and data.draw(mostly(st.just(True), st.just(False))):
        params["EndpointName"] = LIVE
    client = fuzz_kiln.client("sagemaker-runtime")
    check_invocation_parts(*boto3_answer(client, "InvokeEndpoint", params))


@given(
    endpoint=mostly(st.just(LIVE), st.one_of(st.sampled_from(NAMES), st.text(max_size=70))),
    method=mostly(st.just("POST"), st.sampled_from(["GET", "PUT", "DELETE"])),
    headers=HEADERS,
    body=BODIES,
)
def test_any_bytes_under_any_headers_to_any_endpoint_get_runtime_answers(
    fuzz_kiln: Target, endpoint: str, method: str, headers: dict[str, str], body: bytes
) -> None:
    path = f"/endpoints/{quote(endpoint, safe='')}/invocations"
    response = fuzz_kiln.signed("sagemaker-runtime", path, body, headers, method=method)
    check_invocation_parts(response.status_code, dict(response.headers), response.content)
