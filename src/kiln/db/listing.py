"""Filtered, sorted, paginated listing shared by every ``List*`` operation."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, select

from kiln.errors import ValidationError


@dataclass(frozen=True)
class ListQuery:
    """What a ``List*`` call asks for, in store terms (column names, epoch seconds)."""

    sort_by: str = "creation_time"
    descending: bool = False
    max_results: int = 10
    next_token: str | None = None
    name_contains: str | None = None
    status_equals: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    modified_after: float | None = None
    modified_before: float | None = None


def list_page(
    connection: Connection,
    table: Table,
    query: ListQuery,
    where: Sequence[ColumnElement[bool]] = (),
) -> tuple[Sequence[Any], str | None]:
    """One page of rows of ``table`` and the token for the next page (None on the last);
    ``where``: a store's own filters beyond the members every list shares."""
    offset = decode_token(query.next_token)
    statement = select(table).where(*where)
    c = table.c
    if query.name_contains:
        statement = statement.where(c.name.contains(query.name_contains, autoescape=True))
    if query.status_equals:
        statement = statement.where(c.status == query.status_equals)
    if query.created_after is not None:
        statement = statement.where(c.creation_time > query.created_after)
    if query.created_before is not None:
        statement = statement.where(c.creation_time < query.created_before)
    if query.modified_after is not None:
        statement = statement.where(c.last_modified_time > query.modified_after)
    if query.modified_before is not None:
        statement = statement.where(c.last_modified_time < query.modified_before)
    sort_column = c[query.sort_by]
    order = sort_column.desc() if query.descending else sort_column.asc()
    # Name breaks ties so that pages never overlap when sort keys repeat.
    statement = statement.order_by(order, c.name.asc()).offset(offset)
    rows = connection.execute(statement.limit(query.max_results + 1)).all()
    if len(rows) > query.max_results:
        return rows[: query.max_results], encode_token(offset + query.max_results)
    return rows, None


def encode_token(offset: int) -> str:
    """An opaque ``NextToken`` for the page starting at ``offset``."""
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def decode_token(token: str | None) -> int:
    """The offset a ``NextToken`` stands for."""
    if not token:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(token.encode()))["offset"]
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise ValidationError(f"Invalid NextToken {token!r}.") from None
    if not isinstance(offset, int) or not 0 <= offset <= _MAX_OFFSET:
        raise ValidationError(f"Invalid NextToken {token!r}.")
    return offset


# SQL's OFFSET takes a signed 64-bit integer: past it SQLite's driver raises OverflowError.
_MAX_OFFSET = 2**63 - 1
