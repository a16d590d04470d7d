"""CloudWatch Logs' paging: tokens and limits, as pure functions.

GetLogEvents tokens are AWS's form, ``f/<digits>`` forward and ``b/<digits>`` backward; the
digits are a byte offset in the stream, which never moves, so a token stays valid while the
stream grows. The Describe operations page by position in the sorted answer; FilterLogEvents
carries each stream's offset.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kiln.errors import ValidationError

_EVENT_TOKEN = re.compile(r"([fb])/(\d{1,20})")
# ASCII digits only: str.isdigit() admits "²", which int() refuses.
_PAGE_TOKEN = re.compile(r"p/([0-9]{1,18})")


@dataclass(frozen=True)
class EventToken:
    """Where a GetLogEvents page starts: an offset, read forward or backward from."""

    is_forward: bool
    offset: int


def event_token(token: EventToken) -> str:
    """``f/00000000000000001234`` or ``b/…``."""
    return f"{'f' if token.is_forward else 'b'}/{token.offset:020d}"


def parse_event_token(text: str) -> EventToken:
    """The token GetLogEvents handed out; ``ValidationError`` for anything else."""
    match = _EVENT_TOKEN.fullmatch(text)
    if match is None:
        raise invalid_token(text)
    return EventToken(match.group(1) == "f", int(match.group(2)))


def page_token(index: int) -> str:
    """The token of the Describe page that starts at ``index``."""
    return f"p/{index}"


def parse_page_token(text: str | None) -> int:
    """The index a Describe token names (0 without one)."""
    if text is None:
        return 0
    match = _PAGE_TOKEN.fullmatch(text)
    if match is None:
        raise invalid_token(text)
    return int(match.group(1))


def filter_token(positions: Mapping[str, int]) -> str:
    """FilterLogEvents' token: each stream's next offset."""
    return base64.urlsafe_b64encode(json.dumps(dict(positions)).encode()).decode()


def parse_filter_token(text: str | None) -> dict[str, int]:
    """Each stream's offset from a FilterLogEvents token (none without one)."""
    if text is None:
        return {}
    try:
        positions = json.loads(base64.urlsafe_b64decode(text.encode()))
    except (ValueError, binascii.Error):
        raise invalid_token(text) from None
    if not isinstance(positions, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and v >= 0 for k, v in positions.items()
    ):
        raise invalid_token(text)
    return positions


def invalid_token(text: str) -> ValidationError:
    """The error for a token Kiln did not hand out."""
    return ValidationError(f"The specified nextToken is invalid: {text!r}")


def limit(request: Mapping[str, Any], maximum: int, default: int | None = None) -> int:
    """The request's ``limit``, within 1..maximum; ``default`` (else the maximum) if absent."""
    value = request.get("limit")
    if value is None:
        return maximum if default is None else default
    if not 1 <= value <= maximum:
        raise ValidationError(
            f"1 validation error detected: Value '{value}' at 'limit' failed to satisfy "
            f"constraint: Member must have value less than or equal to {maximum}"
        )
    return int(value)
