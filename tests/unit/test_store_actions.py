"""Which IAM action each S3 request needs at the store front, read as rclone routes it."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from kiln.storefront.actions import UnsupportedRequest, classify, copy_source_arn, keys_to_delete

B = "arn:aws:s3:::b"
COPY = {"x-amz-copy-source": "src/dir/a%20b.csv"}

# (method, path, query, headers) → (operation, [(action, resource), …])
TABLE = [
    ("GET", "/", "", {}, "ListBuckets", [("s3:ListAllMyBuckets", "arn:aws:s3:::*")]),
    ("GET", "/b", "list-type=2&prefix=data%2F", {}, "ListObjects", [("s3:ListBucket", B)]),
    ("GET", "/b/", "", {}, "ListObjects", [("s3:ListBucket", B)]),
    ("HEAD", "/b", "", {}, "HeadBucket", [("s3:ListBucket", B)]),
    ("GET", "/b", "location", {}, "GetBucketLocation", [("s3:GetBucketLocation", B)]),
    ("PUT", "/b", "", {}, "CreateBucket", [("s3:CreateBucket", B)]),
    ("DELETE", "/b", "", {}, "DeleteBucket", [("s3:DeleteBucket", B)]),
    ("GET", "/b/k/x.csv", "", {}, "GetObject", [("s3:GetObject", f"{B}/k/x.csv")]),
    ("HEAD", "/b/k", "partNumber=1", {}, "HeadObject", [("s3:GetObject", f"{B}/k")]),
    ("GET", "/b/k", "x-id=GetObject", {}, "GetObject", [("s3:GetObject", f"{B}/k")]),
    ("PUT", "/b/k", "", {}, "PutObject", [("s3:PutObject", f"{B}/k")]),
    ("POST", "/b/k", "uploads", {}, "CreateMultipartUpload", [("s3:PutObject", f"{B}/k")]),
    ("PUT", "/b/k", "partNumber=2&uploadId=u", {}, "UploadPart", [("s3:PutObject", f"{B}/k")]),
    ("POST", "/b/k", "uploadId=u", {}, "CompleteMultipartUpload", [("s3:PutObject", f"{B}/k")]),
    ("DELETE", "/b/k", "uploadId=u", {}, "AbortMultipartUpload",
     [("s3:AbortMultipartUpload", f"{B}/k")]),
    ("GET", "/b/k", "uploadId=u", {}, "ListParts", [("s3:ListMultipartUploadParts", f"{B}/k")]),
    ("GET", "/b", "uploads", {}, "ListMultipartUploads", [("s3:ListBucketMultipartUploads", B)]),
    ("DELETE", "/b/k", "", {}, "DeleteObject", [("s3:DeleteObject", f"{B}/k")]),
    ("GET", "/b", "versions", {}, "ListObjectVersions", [("s3:ListBucketVersions", B)]),
    ("GET", "/b", "versioning", {}, "GetBucketVersioning", [("s3:GetBucketVersioning", B)]),
    ("GET", "/b/k", "versionId=v1", {}, "GetObjectVersion", [("s3:GetObjectVersion", f"{B}/k")]),
    # boto3 sends versionId=null for an unversioned object: gofakes3 reads it as no version.
    ("DELETE", "/b/k", "versionId=null", {}, "DeleteObject", [("s3:DeleteObject", f"{B}/k")]),
    ("PUT", "/b/k", "", COPY, "CopyObject",
     [("s3:PutObject", f"{B}/k"), ("s3:GetObject", "arn:aws:s3:::src/dir/a b.csv")]),
    ("PUT", "/b/k", "partNumber=1&uploadId=u", COPY, "UploadPartCopy",
     [("s3:PutObject", f"{B}/k"), ("s3:GetObject", "arn:aws:s3:::src/dir/a b.csv")]),
    # The path arrives decoded; a key keeps its inner slashes, not its trailing one (as gofakes3).
    ("GET", "/b/a b/ü.txt/", "", {}, "GetObject", [("s3:GetObject", f"{B}/a b/ü.txt")]),
]  # fmt: skip


@pytest.mark.parametrize(("method", "path", "query", "headers", "operation", "expected"), TABLE)
def test_each_request_needs_its_action_on_its_resource(
    method: str,
    path: str,
    query: str,
    headers: dict[str, str],
    operation: str,
    expected: list[tuple[str, str]],
) -> None:
    request = classify(method, path, parse_qsl(query, keep_blank_values=True), headers)
    assert request.operation == operation
    assert [(a.name, r) for a in request.actions for r in a.resources] == expected


def test_delete_objects_takes_its_actions_from_the_body() -> None:
    request = classify("POST", "/b", [("delete", "")], {})
    assert request.needs_keys_from_body
    body = (
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<Object><Key>a/1</Key></Object><Object><Key>b/2</Key><VersionId>v</VersionId></Object>"
        b"<Quiet>true</Quiet></Delete>"
    )
    assert keys_to_delete(body) == ["a/1", "b/2"]


# Each is refused, never forwarded: rclone would read it otherwise than its action says.
REFUSED = [
    ("PUT", "/b/k", "acl", "NotImplemented"),  # rclone would write the ACL over the object
    ("GET", "/b/k", "tagging", "NotImplemented"),  # rclone would answer the object itself
    ("POST", "/b", "", "NotImplemented"),  # a browser form upload names its key in the body
    ("GET", "/b/../c/k", "", "InvalidArgument"),
    ("PATCH", "/b/k", "", "MethodNotAllowed"),
    ("POST", "/b/k", "", "MethodNotAllowed"),
    ("PUT", "/", "", "MethodNotAllowed"),
]


@pytest.mark.parametrize(("method", "path", "query", "code"), REFUSED)
def test_requests_rclone_would_read_otherwise_are_refused(
    method: str, path: str, query: str, code: str
) -> None:
    with pytest.raises(UnsupportedRequest) as refused:
        classify(method, path, parse_qsl(query, keep_blank_values=True), {})
    assert refused.value.code == code


def test_a_copy_source_is_read_as_rclone_reads_it() -> None:
    assert copy_source_arn("/src/k%2Bv+w?versionId=3") == "arn:aws:s3:::src/k+v w"


def test_a_copy_source_without_a_key_is_refused() -> None:
    with pytest.raises(UnsupportedRequest):
        copy_source_arn("src")


def test_a_malformed_delete_body_is_malformed_xml() -> None:
    with pytest.raises(UnsupportedRequest) as refused:
        keys_to_delete(b"<Delete><Object>")
    assert refused.value.code == "MalformedXML"
