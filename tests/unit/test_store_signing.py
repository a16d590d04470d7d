"""The request the front forwards: its target as rclone rebuilds it, signed with the back key."""

from __future__ import annotations

import datetime
import time

import botocore.auth
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from kiln.config import Credentials
from kiln.storefront.signing import back_headers, forward_target

BACK = Credentials("AKIKBACK000000000000", "back-secret/with+chars=0123456789abcdefgh")


def test_the_path_is_encoded_as_rclone_re_encodes_it() -> None:
    # rclone decodes the path and encodes all but A-Z a-z 0-9 - _ . ~ / (its encodePath).
    path, _ = forward_target(b"/b/a%20b+c/%C3%BC~x(1).txt", [])
    assert path == "/b/a%20b%2Bc/%C3%BC~x%281%29.txt"


def test_the_query_is_sorted_and_loses_the_presigned_signature() -> None:
    query = [("X-Amz-Signature", "s"), ("prefix", "a b/"), ("X-Amz-Credential", "c"), ("b", "")]
    _, encoded = forward_target(b"/b", query)
    assert encoded == "b=&prefix=a%20b%2F"


def test_the_back_signature_is_the_one_botocore_gives_the_same_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    moment = datetime.datetime(2026, 12, 2, 1, 2, 3)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda: moment)
    url = "http://127.0.0.1:9999/b/k%20x?partNumber=1&uploadId=u"
    expected = AWSRequest(method="PUT", url=url, headers={"x-amz-meta-owner": "job  one"})
    expected.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    S3SigV4Auth(BotoCredentials(BACK.access_key_id, BACK.secret_access_key), "s3",
                "us-east-1").add_auth(expected)  # fmt: skip
    forwarded = [(b"x-amz-meta-owner", b"job  one")]
    now = moment.replace(tzinfo=datetime.UTC).timestamp()
    headers = back_headers("PUT", "/b/k%20x", "partNumber=1&uploadId=u", forwarded,
                           "127.0.0.1:9999", BACK, "us-east-1", now)  # fmt: skip
    assert dict(headers)[b"authorization"].decode() == expected.headers["Authorization"]
    assert (b"x-amz-content-sha256", b"UNSIGNED-PAYLOAD") in headers


def test_every_amz_header_is_signed_and_content_type_is_not() -> None:
    forwarded = [(b"x-amz-meta-owner", b"x"), (b"content-type", b"text/csv")]
    headers = back_headers("PUT", "/b/k", "", forwarded, "h:1", BACK, "us-east-1", time.time())
    authorization = dict(headers)[b"authorization"].decode()
    assert "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-meta-owner," in authorization
