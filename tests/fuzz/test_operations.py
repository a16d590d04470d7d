"""Every operation Kiln serves, fuzzed from botocore's model of its input: through boto3 with its
validation off, as raw JSON or form bodies boto3 would never send, and as operation sequences.
Each answer must be below 500, carry no traceback, and be in AWS's shape for its protocol."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from .conftest import (
    JSON_OPERATIONS,
    OPERATIONS,
    QUERY_OPERATIONS,
    Target,
    call_boto3,
    check_answer,
    json_target,
    operation_id,
)
from .strategies import documents, form_pairs, requests

CONTENT_TYPES = [
    "application/x-amz-json-1.1",
    "application/x-amz-json-1.0",
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "",
]
# What a header can carry: any character but controls (h11 refuses CR, LF and NUL) and lone
# surrogates (no encoding has them).
HEADER_TEXT = st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=40)


@pytest.mark.parametrize("operation", OPERATIONS, ids=operation_id)
@given(data=st.data())
def test_boto3_requests_from_the_input_shape_get_aws_answers(
    fuzz_kiln: Target, operation: tuple[str, str], data: st.DataObject
) -> None:
    service, name = operation
    call_boto3(fuzz_kiln, service, name, data.draw(requests(service, name), label="params"))


@pytest.mark.parametrize("operation", JSON_OPERATIONS, ids=operation_id)
@given(data=st.data())
def test_json_documents_of_any_member_type_get_aws_answers(
    fuzz_kiln: Target, operation: tuple[str, str], data: st.DataObject
) -> None:
    service, name = operation
    document = data.draw(documents(service, name), label="document")
    body = json.dumps(document).encode()  # bare NaN and 20-digit integers included
    headers = {"Content-Type": CONTENT_TYPES[0], "X-Amz-Target": json_target(service, name)}
    check_answer(fuzz_kiln.signed(service, "/", body, headers))


@pytest.mark.parametrize("operation", QUERY_OPERATIONS, ids=operation_id)
@given(data=st.data())
def test_form_bodies_with_stray_keys_get_aws_answers(
    fuzz_kiln: Target, operation: tuple[str, str], data: st.DataObject
) -> None:
    service, name = operation
    body = urlencode(data.draw(form_pairs(service, name), label="pairs")).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    check_answer(fuzz_kiln.signed(service, "/", body, headers))


@given(
    operation=st.sampled_from(OPERATIONS),
    target=st.one_of(st.none(), HEADER_TEXT),
    content_type=st.one_of(st.sampled_from(CONTENT_TYPES), HEADER_TEXT),
    body=st.binary(max_size=512),
)
def test_any_bytes_under_any_target_and_content_type_get_aws_answers(
    fuzz_kiln: Target,
    operation: tuple[str, str],
    target: str | None,
    content_type: str,
    body: bytes,
) -> None:
    service, name = operation
    headers = {"Content-Type": content_type}
    if operation in JSON_OPERATIONS or target is not None:
        headers["X-Amz-Target"] = json_target(service, name) if target is None else target
    headers = {k: v.encode("utf-8").decode("latin-1") for k, v in headers.items()}
    check_answer(fuzz_kiln.signed(service, "/", body, headers))


@given(
    st.lists(
        st.sampled_from(OPERATIONS).flatmap(lambda op: st.tuples(st.just(op), requests(*op))),
        min_size=2,
        max_size=8,
    )
)
def test_operation_sequences_get_aws_answers(
    fuzz_kiln: Target, steps: list[tuple[tuple[str, str], dict[str, Any]]]
) -> None:
    for (service, name), params in steps:
        call_boto3(fuzz_kiln, service, name, params)
