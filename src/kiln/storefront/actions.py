"""Which S3 action a request is, in IAM's terms, read the way rclone will carry it out.

The reading follows the router of rclone's S3 server (``gofakes3``'s ``routeBase``), in its
order: ``?uploadId``, ``?uploads``, ``?versioning``, ``?versions``, ``?versionId``, then object,
bucket, service; the path is taken decoded and trimmed of slashes, as Go's ``URL.Path`` is. What
rclone would read differently from the action named here is refused, never forwarded: rclone
ignores sub-resources it lacks (``?acl``, ``?tagging``…) and would, for instance, overwrite an
object with the body of ``PUT ?acl``; a browser form upload names its key inside the body.

    GET /                                   s3:ListAllMyBuckets                 arn:aws:s3:::*
    GET|HEAD /b                             s3:ListBucket                       arn:aws:s3:::b
    GET /b?location                         s3:GetBucketLocation                arn:aws:s3:::b
    PUT /b, DELETE /b                       s3:CreateBucket, s3:DeleteBucket    arn:aws:s3:::b
    POST /b?delete                          s3:DeleteObject per key in the body arn:aws:s3:::b/k
    GET|HEAD /b/k                           s3:GetObject                        arn:aws:s3:::b/k
    PUT /b/k, POST /b/k?uploads,            s3:PutObject                        arn:aws:s3:::b/k
      PUT|POST /b/k?uploadId
    DELETE /b/k                             s3:DeleteObject                     arn:aws:s3:::b/k
    DELETE /b/k?uploadId                    s3:AbortMultipartUpload             arn:aws:s3:::b/k
    PUT with x-amz-copy-source: s/k2        + s3:GetObject on the source        arn:aws:s3:::s/k2
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import unquote_plus
from xml.etree import ElementTree

from kiln.auth.authorizer import Action

# Query parameters rclone reads as arguments, not as a sub-resource, and those only the signature
# uses (a presigned URL's): anything else names a sub-resource rclone does not have.
_ARGUMENTS = frozenset(
    {
        "continuation-token", "delimiter", "encoding-type", "fetch-owner", "key-marker",
        "list-type", "marker", "max-keys", "max-parts", "max-uploads", "part-number-marker",
        "partNumber", "prefix", "start-after", "upload-id-marker", "version-id-marker", "x-id",
        "response-cache-control", "response-content-disposition", "response-content-encoding",
        "response-content-language", "response-content-type", "response-expires",
    }
)  # fmt: skip
SIGNATURE_PARAMETERS = frozenset(
    {
        "X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Date", "X-Amz-Expires",
        "X-Amz-Security-Token", "X-Amz-Signature", "X-Amz-SignedHeaders",
    }
)  # fmt: skip
ALL_BUCKETS = "arn:aws:s3:::*"
_ROUTES = ("uploadId", "uploads", "versioning", "versions", "versionId", "location", "delete")


class UnsupportedRequest(Exception):
    """A request the front does not forward: S3's error code, HTTP status and message."""

    def __init__(self, code: str, status: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


@dataclass(frozen=True)
class StoreRequest:
    """What a request asks of the store: S3's operation, the actions it needs, its resource."""

    operation: str
    actions: tuple[Action, ...]
    resource: str
    needs_keys_from_body: bool = False  # DeleteObjects: one s3:DeleteObject per key it lists


def object_arn(bucket: str, key: str) -> str:
    """An object's ARN (or a bucket's, with an empty key)."""
    return f"arn:aws:s3:::{bucket}/{key}" if key else f"arn:aws:s3:::{bucket}"


def classify(
    method: str, path: str, query: Sequence[tuple[str, str]], headers: Mapping[str, str]
) -> StoreRequest:
    """The operation, actions and resource of a path-style S3 request (``path`` decoded)."""
    names = {name for name, _ in query}
    unknown = sorted(names - _ARGUMENTS - SIGNATURE_PARAMETERS - set(_ROUTES))
    if unknown:
        raise UnsupportedRequest(
            "NotImplemented", 501, f"Kiln's store does not implement the {unknown[0]!r} "
            "sub-resource (rclone serves objects, buckets, listings and multipart uploads)",
        )  # fmt: skip
    bucket, _, key = path.strip("/").partition("/")
    if ".." in key.split("/"):
        raise UnsupportedRequest(
            "InvalidArgument", 400, f"Object name contains unsupported characters: {key!r}"
        )
    values = dict(query)
    request = _route(method.upper(), bucket, key, values)
    source = headers.get("x-amz-copy-source")
    if source is not None and request.operation in ("PutObject", "UploadPart"):
        copied = Action("s3:GetObject", [copy_source_arn(source)])
        operation = "CopyObject" if request.operation == "PutObject" else "UploadPartCopy"
        return StoreRequest(operation, (*request.actions, copied), request.resource)
    return request


def copy_source_arn(source: str) -> str:
    """The ARN of ``x-amz-copy-source`` (``bucket/key[?versionId=…]``), read as rclone reads it."""
    bucket, _, rest = source.removeprefix("/").partition("/")
    key = unquote_plus(rest.partition("?")[0])
    if not bucket or not key or ".." in key.split("/"):
        raise UnsupportedRequest(
            "InvalidArgument", 400, f"Copy Source must name an object (bucket/key), not {source!r}"
        )
    return object_arn(bucket, key)


def _route(method: str, bucket: str, key: str, query: Mapping[str, str]) -> StoreRequest:
    if query.get("uploadId"):
        return _multipart(method, bucket, key)
    if "uploads" in query:
        if method == "GET":
            return _one("ListMultipartUploads", "s3:ListBucketMultipartUploads", bucket, "")
        if method == "POST":
            return _one("CreateMultipartUpload", "s3:PutObject", bucket, key)
    elif "versioning" in query:
        if method in ("GET", "PUT"):
            verb = "Get" if method == "GET" else "Put"
            return _one(f"{verb}BucketVersioning", f"s3:{verb}BucketVersioning", bucket, "")
    elif "versions" in query:
        if method == "GET":
            return _one("ListObjectVersions", "s3:ListBucketVersions", bucket, "")
    elif query.get("versionId") not in (None, "", "null"):  # gofakes3 reads "null" as none
        if method in ("GET", "HEAD", "DELETE"):
            verb = "Delete" if method == "DELETE" else "Get"
            return _one(f"{verb}ObjectVersion", f"s3:{verb}ObjectVersion", bucket, key)
    elif bucket and key:
        return _object(method, bucket, key)
    elif bucket:
        return _bucket(method, bucket, query)
    elif method == "GET":
        # No resource type on AWS; policies name it "*" or "arn:aws:s3:::*", and this matches both.
        return StoreRequest("ListBuckets", (Action("s3:ListAllMyBuckets", [ALL_BUCKETS]),), "/")
    raise _not_allowed(method, _resource(bucket, key))


def _multipart(method: str, bucket: str, key: str) -> StoreRequest:
    operations = {
        "GET": ("ListParts", "s3:ListMultipartUploadParts"),
        "PUT": ("UploadPart", "s3:PutObject"),
        "POST": ("CompleteMultipartUpload", "s3:PutObject"),
        "DELETE": ("AbortMultipartUpload", "s3:AbortMultipartUpload"),
    }
    if method not in operations:
        raise _not_allowed(method, _resource(bucket, key))
    operation, action = operations[method]
    return _one(operation, action, bucket, key)


def _object(method: str, bucket: str, key: str) -> StoreRequest:
    operations = {
        "GET": ("GetObject", "s3:GetObject"),
        "HEAD": ("HeadObject", "s3:GetObject"),
        "PUT": ("PutObject", "s3:PutObject"),
        "DELETE": ("DeleteObject", "s3:DeleteObject"),
    }
    if method not in operations:
        raise _not_allowed(method, _resource(bucket, key))
    operation, action = operations[method]
    return _one(operation, action, bucket, key)


def _bucket(method: str, bucket: str, query: Mapping[str, str]) -> StoreRequest:
    if method == "GET" and "location" in query:
        return _one("GetBucketLocation", "s3:GetBucketLocation", bucket, "")
    if method == "POST":
        if "delete" not in query:
            raise UnsupportedRequest(
                "NotImplemented", 501, "Browser form uploads (POST to a bucket) are not "
                "supported: use PutObject or a presigned PUT URL",
            )  # fmt: skip
        return StoreRequest("DeleteObjects", (), _resource(bucket, ""), needs_keys_from_body=True)
    operations = {
        "GET": ("ListObjects", "s3:ListBucket"),
        "HEAD": ("HeadBucket", "s3:ListBucket"),
        "PUT": ("CreateBucket", "s3:CreateBucket"),
        "DELETE": ("DeleteBucket", "s3:DeleteBucket"),
    }
    if method not in operations:
        raise _not_allowed(method, _resource(bucket, ""))
    operation, action = operations[method]
    return _one(operation, action, bucket, "")


def delete_actions(bucket: str, keys: Sequence[str]) -> tuple[Action, ...]:
    """DeleteObjects' actions: ``s3:DeleteObject`` on each key its body lists."""
    return tuple(Action("s3:DeleteObject", [object_arn(bucket, key)]) for key in keys)


def _one(operation: str, action: str, bucket: str, key: str) -> StoreRequest:
    return StoreRequest(
        operation, (Action(action, [object_arn(bucket, key)]),), _resource(bucket, key)
    )


def _resource(bucket: str, key: str) -> str:
    return f"/{bucket}/{key}" if key else f"/{bucket}"


def _not_allowed(method: str, resource: str) -> UnsupportedRequest:
    return UnsupportedRequest(
        "MethodNotAllowed", 405, f"The specified method ({method}) is not allowed against "
        f"this resource ({resource}).",
    )  # fmt: skip


def keys_to_delete(body: bytes) -> list[str]:
    """The keys a DeleteObjects body lists (``<Delete><Object><Key>``, any namespace)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        raise UnsupportedRequest(
            "MalformedXML", 400, "The XML you provided was not well-formed or did not "
            "validate against our published schema",
        ) from None  # fmt: skip
    return [
        child.text or ""
        for item in root
        if _local(item.tag) == "Object"
        for child in item
        if _local(child.tag) == "Key"
    ]


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]
