"""``List*`` requests → store queries: the members every SageMaker list operation shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from kiln.db.listing import ListQuery

T = TypeVar("T")

_SORT_COLUMNS = {"Name": "name", "CreationTime": "creation_time", "Status": "status"}


def list_query(request: Mapping[str, Any], *, default_descending: bool) -> ListQuery:
    """A store query from a ``List*`` request's common members."""
    order = request.get("SortOrder")
    return ListQuery(
        sort_by=_SORT_COLUMNS[request.get("SortBy", "CreationTime")],
        descending=default_descending if order is None else order == "Descending",
        max_results=int(request.get("MaxResults", 10)),
        next_token=request.get("NextToken"),
        name_contains=request.get("NameContains"),
        status_equals=request.get("StatusEquals"),
        created_after=request.get("CreationTimeAfter"),
        created_before=request.get("CreationTimeBefore"),
        modified_after=request.get("LastModifiedTimeAfter"),
        modified_before=request.get("LastModifiedTimeBefore"),
    )


def page_offset(token: object) -> int | None:
    """The offset an in-memory listing's ``NextToken`` holds (0 for none); None when the token
    is not one such a listing hands out: a short run of ASCII digits (``int()`` refuses very
    long ones, and a client may send anything)."""
    if token is None:
        return 0
    text = str(token)
    if not (text.isascii() and text.isdigit() and len(text) <= 12):
        return None
    return int(text)


def page(
    items: Sequence[T], token: object, size: int, invalid: Callable[[], Exception]
) -> tuple[Sequence[T], str | None]:
    """One page of an in-memory listing from ``token`` on, and the next page's token (None on
    the last); ``invalid()`` is raised for a token no such listing hands out."""
    offset = page_offset(token)
    if offset is None:
        raise invalid()
    end = offset + size
    return items[offset:end], (str(end) if end < len(items) else None)
