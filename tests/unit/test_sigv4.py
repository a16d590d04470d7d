"""SigV4 verification against botocore's own signer: what botocore signs, Kiln accepts."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from kiln.auth import sigv4
from kiln.auth.errors import AuthError, Refusal

KEY, SECRET = "AKIKTESTKEY000000000", "s3cr3t/with+chars=0123456789abcdefghijkl"


def _arrived(request: AWSRequest, body: bytes = b"") -> sigv4.HttpRequest:
    """What a server sees of a request botocore prepared."""
    prepared = request.prepare()
    url = urlsplit(prepared.url)
    # http.client sends str header values as latin-1.
    headers = [(k.lower().encode(), v.encode("latin-1") if isinstance(v, str) else v)
               for k, v in prepared.headers.items()]  # fmt: skip
    if not any(k == b"host" for k, _ in headers):
        headers.append((b"host", url.netloc.encode()))
    return sigv4.HttpRequest(prepared.method, url.path.encode(), url.query.encode(), headers, body)


def _signed(
    method: str = "POST",
    url: str = "http://127.0.0.1:8080/",
    body: bytes = b'{"a": 1}',
    headers: dict[str, str] | None = None,
    service: str = "sagemaker",
    token: str | None = None,
) -> sigv4.HttpRequest:
    request = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    SigV4Auth(Credentials(KEY, SECRET, token), service, "us-east-1").add_auth(request)
    return _arrived(request, body)


def _check(request: sigv4.HttpRequest, secret: str = SECRET, *, s3: bool = False) -> None:
    claim = sigv4.read_claim(request)
    sigv4.check_time(claim, time.time())
    sigv4.verify(claim, request, secret, s3=s3)


def test_a_request_botocore_signed_verifies() -> None:
    _check(_signed(headers={"X-Amz-Target": "SageMaker.ListModels"}))


def test_a_wrong_secret_is_an_invalid_signature() -> None:
    with pytest.raises(AuthError) as refused:
        _check(_signed(), secret="not-the-secret")
    assert refused.value.refusal is Refusal.BAD_SIGNATURE


def test_a_changed_body_is_an_invalid_signature() -> None:
    request = _signed()
    tampered = sigv4.HttpRequest(request.method, request.raw_path, request.query_string,
                                 request.headers, b'{"a": 2}')  # fmt: skip
    with pytest.raises(AuthError, match="does not match"):
        _check(tampered)


def test_a_session_token_is_read_from_its_header() -> None:
    claim = sigv4.read_claim(_signed(token="session-token"))
    assert claim.security_token == "session-token"


def test_a_request_without_authorization_is_missing_a_token() -> None:
    request = sigv4.HttpRequest("POST", b"/", b"", [(b"host", b"127.0.0.1")])
    with pytest.raises(AuthError) as refused:
        sigv4.read_claim(request)
    assert refused.value.refusal is Refusal.MISSING


@pytest.mark.parametrize(
    "authorization",
    [
        "AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/sagemaker/aws4_request",
        "AWS4-HMAC-SHA256 Credential=AKID/x/aws4_request, SignedHeaders=host, Signature=ab",
        "AWS4-HMAC-SHA256 Credential=AKID/20261202/us-east-1/sagemaker/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=ab",
    ],
)
def test_a_malformed_authorization_header_is_an_incomplete_signature(authorization: str) -> None:
    request = sigv4.HttpRequest(
        "POST", b"/", b"",
        [(b"host", b"h"), (b"authorization", authorization.encode()),
         (b"x-amz-date", b"20261202T000000Z")],
    )  # fmt: skip
    with pytest.raises(AuthError) as refused:
        sigv4.read_claim(request)
    assert refused.value.refusal is Refusal.INCOMPLETE


@pytest.mark.parametrize("offset", [-16 * 60, 16 * 60])
def test_a_signature_outside_fifteen_minutes_is_refused(offset: int) -> None:
    claim = sigv4.read_claim(_signed())
    with pytest.raises(AuthError, match="Signature (expired|not yet current)"):
        sigv4.check_time(claim, time.time() - offset)


def test_a_signature_within_fifteen_minutes_is_accepted() -> None:
    claim = sigv4.read_claim(_signed())
    sigv4.check_time(claim, time.time() + 14 * 60)


def test_a_presigned_url_verifies_until_it_expires() -> None:
    request = AWSRequest(method="GET", url="http://127.0.0.1:8080/kiln/v1/x?follow=true")
    SigV4QueryAuth(Credentials(KEY, SECRET), "sagemaker", "us-east-1", expires=60).add_auth(request)
    arrived = _arrived(request)
    claim = sigv4.read_claim(arrived)
    assert claim.presigned_expires == 60
    sigv4.verify(claim, arrived, SECRET)
    with pytest.raises(AuthError, match="expired"):
        sigv4.check_time(claim, time.time() + 61)


def test_s3_signatures_use_the_path_as_sent_and_the_declared_payload_hash() -> None:
    body = b"object bytes"
    request = AWSRequest(method="PUT", url="http://127.0.0.1:9000/bucket/a%20b/c.txt", data=body)
    S3SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(request)
    arrived = _arrived(request, body)
    _check(arrived, s3=True)
    assert sigv4.body_matches_declared_hash(arrived)


_safe_text = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=20
)


@settings(max_examples=40, deadline=None)
@given(
    path=st.lists(_safe_text.filter(lambda s: s not in (".", "..")), min_size=1, max_size=4),
    query=st.dictionaries(st.from_regex(r"[a-zA-Z][a-zA-Z0-9_-]{0,8}", fullmatch=True),
                          _safe_text, max_size=3),
    header=st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0xFF,
                                          exclude_characters="\x7f"), max_size=20).map(str.strip),
    body=st.binary(max_size=64),
)  # fmt: skip
def test_any_request_botocore_signs_verifies(
    path: list[str], query: dict[str, str], header: str, body: bytes
) -> None:
    from urllib.parse import quote, urlencode

    url = "http://127.0.0.1:8080/" + "/".join(quote(p, safe="") for p in path)
    if query:
        url += "?" + urlencode(query, quote_via=quote, safe="-_.~")
    request = AWSRequest(method="POST", url=url, data=body, headers={"X-Custom": header})
    SigV4Auth(Credentials(KEY, SECRET), "sagemaker", "us-east-1").add_auth(request)
    _check(_arrived(request, body))
