"""The request the front forwards: its target as rclone rebuilds it, signed with the back key."""

from __future__ import annotations

import time

from kiln.auth import sigv4
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


def test_the_back_signature_verifies_and_covers_every_amz_header() -> None:
    now = time.time()
    forwarded = [(b"x-amz-meta-owner", b"job  one"), (b"content-type", b"text/csv")]
    headers = back_headers("PUT", "/b/k%20x", "partNumber=1&uploadId=u", forwarded,
                           "127.0.0.1:9999", BACK, "us-east-1", now)  # fmt: skip
    request = sigv4.HttpRequest("PUT", b"/b/k%20x", b"partNumber=1&uploadId=u", headers)
    claim = sigv4.read_claim(request)
    sigv4.verify(claim, request, BACK.secret_access_key, s3=True)
    assert claim.access_key_id == BACK.access_key_id
    assert claim.signed_headers == (
        "host",
        "x-amz-content-sha256",
        "x-amz-date",
        "x-amz-meta-owner",
    )
    assert (b"x-amz-content-sha256", b"UNSIGNED-PAYLOAD") in headers
