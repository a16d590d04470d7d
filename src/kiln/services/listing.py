"""``List*`` requests → store queries: the members every SageMaker list operation shares."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kiln.db.listing import ListQuery

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
