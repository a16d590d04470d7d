"""The embedded store's front: real boto3 and raw HTTP through it to a real rclone."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials
from botocore.exceptions import ClientError

from conftest import NO_RETRIES, Kiln
from kiln.auth.authorizer import Authorizer
from kiln.auth.policies import Policy
from kiln.config import Credentials
from kiln.storefront.back import Back
from kiln.storefront.listener import FrontListener
from kiln.storefront.proxy import StoreFront

NO_RETRIES_S3V4 = NO_RETRIES.merge(Config(signature_version="s3v4"))


def _s3(
    kiln: Kiln, creds: Credentials, endpoint: str | None = None, token: str | None = None
) -> Any:
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint or kiln.settings.s3_endpoint_url,
        region_name=kiln.settings.region,
        aws_access_key_id=creds.access_key_id,
        aws_secret_access_key=creds.secret_access_key,
        aws_session_token=token,
        config=NO_RETRIES_S3V4,
    )


def _code(call: Any) -> str:
    with pytest.raises(ClientError) as refused:
        call()
    return str(refused.value.response["Error"]["Code"])


def _keys(kiln: Kiln, bucket: str) -> list[str]:
    return [o["Key"] for o in kiln.s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def _user(kiln: Kiln, name: str, statements: list[dict[str, Any]]) -> Credentials:
    """A user with ``statements`` as its policy, and a key pair for it."""
    keys = kiln.thread.kiln.keys
    keys.put_principal(name, "user", [Policy.parse({"Version": "2012-10-17",
                                                    "Statement": statements})])  # fmt: skip
    return keys.create_access_key(name)


def _bucket_only(bucket: str) -> list[dict[str, Any]]:
    return [{"Effect": "Allow", "Action": "s3:*",
             "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]}]  # fmt: skip


def _raw_put(kiln: Kiln, key: str, signed_body: bytes, sent_body: bytes) -> httpx.Response:
    """A PUT signed (with the owner's key) for one body, carrying another."""
    url = f"{kiln.settings.s3_endpoint_url}/{key}"
    creds = kiln.settings.credentials
    request = AWSRequest(method="PUT", url=url, data=signed_body)
    request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(signed_body).hexdigest()
    S3SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key), "s3",
                kiln.settings.region).add_auth(request)  # fmt: skip
    return httpx.put(url, content=sent_body, headers=dict(request.headers.items()))


def test_owner_key_uploads_multipart_downloads_lists_and_deletes(
    kiln: Kiln, tmp_path: Path
) -> None:
    s3 = kiln.s3
    s3.create_bucket(Bucket="data")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(20 * 1024 * 1024))
    multipart = TransferConfig(multipart_threshold=5 * 1024**2, multipart_chunksize=5 * 1024**2)
    s3.upload_file(str(source), "data", "dir/big bin+1.bin", Config=multipart)
    s3.download_file("data", "dir/big bin+1.bin", str(tmp_path / "back.bin"), Config=multipart)
    assert (tmp_path / "back.bin").read_bytes() == source.read_bytes()
    listed = s3.list_objects_v2(Bucket="data", Prefix="dir/")["Contents"]
    assert [(o["Key"], o["Size"]) for o in listed] == [("dir/big bin+1.bin", 20 * 1024 * 1024)]
    s3.delete_object(Bucket="data", Key="dir/big bin+1.bin")
    assert _keys(kiln, "data") == []


def test_copies_and_batch_deletes_pass_the_front(kiln: Kiln) -> None:
    s3 = kiln.s3
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="a", Body=b"one", Metadata={"owner": "me"})
    s3.copy_object(Bucket="data", Key="b", CopySource={"Bucket": "data", "Key": "a"})
    assert s3.get_object(Bucket="data", Key="b")["Body"].read() == b"one"
    deleted = s3.delete_objects(Bucket="data", Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["a", "b"]


def test_presigned_put_and_get_urls_work_through_the_front(kiln: Kiln) -> None:
    s3 = _s3(kiln, kiln.settings.credentials)
    s3.create_bucket(Bucket="data")
    params = {"Bucket": "data", "Key": "shared/ü x.txt"}
    put = s3.generate_presigned_url("put_object", Params=params)
    assert httpx.put(put, content=b"presigned").status_code == 200
    assert httpx.get(s3.generate_presigned_url("get_object", Params=params)).text == "presigned"


def test_a_body_that_differs_from_its_signed_hash_is_refused_and_not_stored(kiln: Kiln) -> None:
    kiln.s3.create_bucket(Bucket="data")
    answer = _raw_put(kiln, "data/k", b"what was signed", b"what was sent!!")
    assert answer.status_code == 400
    assert "<Code>XAmzContentSHA256Mismatch</Code>" in answer.text
    assert _keys(kiln, "data") == []


def test_a_body_that_matches_its_signed_hash_is_stored(kiln: Kiln) -> None:
    kiln.s3.create_bucket(Bucket="data")
    assert _raw_put(kiln, "data/k", b"same body", b"same body").status_code == 200
    assert kiln.s3.get_object(Bucket="data", Key="k")["Body"].read() == b"same body"


def test_an_unsigned_request_is_access_denied_in_s3_xml(kiln: Kiln) -> None:
    answer = httpx.get(f"{kiln.settings.s3_endpoint_url}/data/k")
    assert answer.status_code == 403
    assert answer.headers["content-type"] == "application/xml"
    assert "<Error><Code>AccessDenied</Code>" in answer.text
    assert "<Resource>/data/k</Resource>" in answer.text


def test_a_wrong_secret_does_not_match_the_signature(kiln: Kiln) -> None:
    wrong = Credentials(kiln.settings.credentials.access_key_id, "x" * 40)
    assert _code(lambda: _s3(kiln, wrong).list_buckets()) == "SignatureDoesNotMatch"


def test_an_unknown_key_is_an_invalid_access_key_id(kiln: Kiln) -> None:
    stranger = Credentials("AKIKNOBODY0000000000", "x" * 40)
    assert _code(lambda: _s3(kiln, stranger).list_buckets()) == "InvalidAccessKeyId"


def test_a_signature_version_2_url_is_an_invalid_request(kiln: Kiln) -> None:
    creds = kiln.settings.credentials
    v2 = boto3.session.Session().client(
        "s3", endpoint_url=kiln.settings.s3_endpoint_url, region_name="us-east-1",
        aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
        config=Config(signature_version="s3"),
    )  # fmt: skip
    answer = httpx.get(v2.generate_presigned_url("list_buckets"))
    assert answer.status_code == 400
    assert "AWS4-HMAC-SHA256" in answer.text


def test_a_user_scoped_to_one_bucket_is_denied_another(kiln: Kiln) -> None:
    kiln.s3.create_bucket(Bucket="mine")
    kiln.s3.create_bucket(Bucket="theirs")
    kiln.s3.put_object(Bucket="theirs", Key="model.tar.gz", Body=b"secret")
    scoped = _s3(kiln, _user(kiln, "scoped-user", _bucket_only("mine")))
    scoped.put_object(Bucket="mine", Key="k", Body=b"ok")
    assert scoped.get_object(Bucket="mine", Key="k")["Body"].read() == b"ok"
    assert _code(lambda: scoped.get_object(Bucket="theirs", Key="model.tar.gz")) == "AccessDenied"
    assert _code(lambda: scoped.list_objects_v2(Bucket="theirs")) == "AccessDenied"
    assert _code(lambda: scoped.list_buckets()) == "AccessDenied"


def test_a_copy_needs_read_access_to_its_source(kiln: Kiln) -> None:
    kiln.s3.create_bucket(Bucket="mine")
    kiln.s3.create_bucket(Bucket="theirs")
    kiln.s3.put_object(Bucket="theirs", Key="model.tar.gz", Body=b"secret")
    scoped = _s3(kiln, _user(kiln, "copier", _bucket_only("mine")))
    source = {"Bucket": "theirs", "Key": "model.tar.gz"}
    assert _code(lambda: scoped.copy_object(Bucket="mine", Key="stolen", CopySource=source)) == (
        "AccessDenied"
    )
    assert _keys(kiln, "mine") == []


def test_a_batch_delete_needs_delete_on_every_key(kiln: Kiln) -> None:
    kiln.s3.create_bucket(Bucket="data")
    for key in ("scratch/a", "models/b"):
        kiln.s3.put_object(Bucket="data", Key=key, Body=b"x")
    scoped = _s3(kiln, _user(kiln, "cleaner", [
        {"Effect": "Allow", "Action": "s3:DeleteObject", "Resource": "arn:aws:s3:::data/scratch/*"}
    ]))  # fmt: skip
    batch = {"Objects": [{"Key": "scratch/a"}, {"Key": "models/b"}]}
    assert _code(lambda: scoped.delete_objects(Bucket="data", Delete=batch)) == "AccessDenied"
    assert _keys(kiln, "data") == ["models/b", "scratch/a"]


def test_a_sub_resource_rclone_lacks_is_not_implemented_and_changes_nothing(kiln: Kiln) -> None:
    s3 = kiln.s3
    s3.create_bucket(Bucket="data")
    s3.put_object(Bucket="data", Key="k", Body=b"kept")
    assert _code(lambda: s3.put_object_acl(Bucket="data", Key="k", ACL="private")) == (
        "NotImplemented"
    )
    assert s3.get_object(Bucket="data", Key="k")["Body"].read() == b"kept"


def test_errors_from_rclone_pass_through(kiln: Kiln) -> None:
    assert _code(lambda: kiln.s3.get_object(Bucket="nothing-here", Key="k")) == "NoSuchBucket"


def test_rclone_takes_only_the_back_key_on_its_private_port(kiln: Kiln) -> None:
    back = kiln.thread.kiln.store_back
    assert back is not None
    owner_direct = _s3(kiln, kiln.settings.credentials, endpoint=back.url)
    assert _code(lambda: owner_direct.list_buckets()) in ("InvalidAccessKeyId", "AccessDenied")
    assert "Buckets" in _s3(kiln, back.credentials, endpoint=back.url).list_buckets()


def test_the_back_key_is_in_no_file_of_kiln_home(kiln: Kiln) -> None:
    back = kiln.thread.kiln.store_back
    assert back is not None
    secret = back.credentials.secret_access_key.encode()
    for path in kiln.settings.home.rglob("*"):
        if path.is_file() and "storage" not in path.parts:
            assert secret not in path.read_bytes(), path


def test_a_taken_s3_port_is_an_error_naming_kiln_s3_port(kiln: Kiln) -> None:
    server = kiln.thread.kiln
    front = StoreFront(
        server.keys, Authorizer("us-east-1"), Back.fresh(kiln.settings.s3_port), "us-east-1"
    )
    with pytest.raises(RuntimeError, match=f"{kiln.settings.s3_port} is in use.*KILN_S3_PORT"):
        FrontListener(front, kiln.settings.s3_port).start()


def test_a_delete_body_is_checked_against_its_signed_hash(kiln: Kiln) -> None:
    kiln.s3.create_bucket(Bucket="data")
    kiln.s3.put_object(Bucket="data", Key="a", Body=b"x")
    body = b"<Delete><Object><Key>a</Key></Object></Delete>"
    creds = kiln.settings.credentials
    url = f"{kiln.settings.s3_endpoint_url}/data?delete"
    request = AWSRequest(method="POST", url=url, data=b"<Delete></Delete>")
    request.headers["X-Amz-Content-SHA256"] = hashlib.sha256(b"<Delete></Delete>").hexdigest()
    S3SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key), "s3",
                kiln.settings.region).add_auth(request)  # fmt: skip
    answer = httpx.post(url, content=body, headers=dict(request.headers.items()))
    assert "XAmzContentSHA256Mismatch" in answer.text
    assert _keys(kiln, "data") == ["a"]


def test_a_header_signature_without_a_payload_hash_is_an_invalid_request(kiln: Kiln) -> None:
    url = f"{kiln.settings.s3_endpoint_url}/data"
    answer = httpx.get(url, headers=_signed(kiln, "GET", url, payload_hash=None))
    assert answer.status_code == 400
    assert "x-amz-content-sha256" in answer.text


def test_an_aws_chunked_payload_is_not_implemented(kiln: Kiln) -> None:
    url = f"{kiln.settings.s3_endpoint_url}/data/k"
    headers = _signed(kiln, "PUT", url, payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    answer = httpx.put(url, content=b"", headers=headers)
    assert answer.status_code == 501
    assert "<Code>NotImplemented</Code>" in answer.text


def _signed(kiln: Kiln, method: str, url: str, payload_hash: str | None) -> dict[str, str]:
    """Headers signed with the owner's key over ``payload_hash`` (None: no such header)."""
    creds = kiln.settings.credentials
    request = AWSRequest(method=method, url=url)
    if payload_hash is not None:
        # SigV4Auth, unlike S3SigV4Auth, signs the declared hash as given.
        request.headers["X-Amz-Content-SHA256"] = payload_hash
    SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key), "s3",
              kiln.settings.region).add_auth(request)  # fmt: skip
    return dict(request.headers.items())
