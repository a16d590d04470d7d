"""Tags on every SageMaker resource Kiln has: ``Tags`` on ``Create*``, ``AddTags``, ``ListTags``,
``DeleteTags``.

A resource's tags live in its stored request (``spec["Tags"]``), so they go when it goes, as on
AWS. An ARN names its store by its resource type (``arn:aws:sagemaker:…:endpoint/<name>``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from kiln.errors import ValidationError
from kiln.services.listing import page

MAX_TAGS = 50
_RESERVED_PREFIX = "aws:"


class TaggedRecord(Protocol):
    """What a taggable record has."""

    spec: dict[str, Any]


class TaggedStore(Protocol):
    """What the tag service needs of a resource store."""

    def name_for_arn(self, arn: str) -> str | None:
        """The name of the record with ``arn``, or None."""

    def get(self, name: str) -> Any:
        """The record named ``name``, or None."""

    def modify(self, name: str, change: Callable[[Any], None]) -> Any:
        """Apply ``change`` to the record and write it back."""


def check_tags(tags: Iterable[Mapping[str, str]]) -> None:
    """ValidationError for reserved keys or more than 50 tags (AWS's wording)."""
    keys = [tag["Key"] for tag in tags]
    reserved = [key for key in keys if key.lower().startswith(_RESERVED_PREFIX)]
    if reserved:
        raise ValidationError(
            f"Tag keys starting with 'aws:' are reserved for system use: {reserved[0]!r}"
        )
    total = len(set(keys))
    if total > MAX_TAGS:
        raise ValidationError(
            f"Exceeded the maximum number of tags allowed for a resource ({MAX_TAGS}): "
            f"the request would leave {total}"
        )


def merged_tags(
    current: Iterable[Mapping[str, str]], added: Iterable[Mapping[str, str]]
) -> list[dict[str, str]]:
    """``current`` with ``added`` applied: a key that exists gets the new value."""
    merged = {tag["Key"]: tag.get("Value", "") for tag in current}
    merged.update({tag["Key"]: tag.get("Value", "") for tag in added})
    return [{"Key": key, "Value": value} for key, value in merged.items()]


class TagService:
    """SageMaker's tag operations over every resource store."""

    def __init__(self, stores: Mapping[str, TaggedStore]) -> None:
        self._stores = dict(stores)

    def add_tags(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Add or overwrite tags; the tags of the request."""
        store, name = self._resolve(request["ResourceArn"])
        added = list(request["Tags"])

        def add(record: Any) -> None:
            merged = merged_tags(record.spec.get("Tags", []), added)
            check_tags(merged)
            record.spec["Tags"] = merged

        store.modify(name, add)
        return {"Tags": added}

    def list_tags(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """One page of a resource's tags."""
        store, name = self._resolve(request["ResourceArn"])
        tags = store.get(name).spec.get("Tags", [])
        token = request.get("NextToken")
        found, next_token = page(
            tags,
            token,
            int(request.get("MaxResults", MAX_TAGS)),
            lambda: ValidationError(f"Invalid NextToken {token!r}"),
        )
        answer: dict[str, Any] = {"Tags": list(found)}
        if next_token is not None:
            answer["NextToken"] = next_token
        return answer

    def delete_tags(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """Remove tags by key; keys the resource lacks are ignored, as on AWS."""
        store, name = self._resolve(request["ResourceArn"])
        keys = set(request["TagKeys"])

        def delete(record: Any) -> None:
            record.spec["Tags"] = [t for t in record.spec.get("Tags", []) if t["Key"] not in keys]

        store.modify(name, delete)
        return {}

    def _resolve(self, arn: str) -> tuple[TaggedStore, str]:
        parts = arn.split(":", 5)
        kind = parts[5].split("/", 1)[0] if len(parts) == 6 and parts[2] == "sagemaker" else ""
        store = self._stores.get(kind)
        name = store.name_for_arn(arn) if store is not None else None
        if store is None or name is None:
            raise ValidationError(f"Resource {arn} does not exist or is not taggable in Kiln")
        return store, name
