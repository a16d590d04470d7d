from __future__ import annotations

import pytest

from kiln.errors import ValidationError
from kiln.services.logs.filter_pattern import parse_filter_pattern
from kiln.services.logs.paging import (
    EventToken,
    event_token,
    filter_token,
    limit,
    parse_event_token,
    parse_filter_token,
    parse_page_token,
)


@pytest.mark.parametrize("token", [EventToken(True, 0), EventToken(False, 1234)])
def test_event_tokens_round_trip_in_aws_form(token: EventToken) -> None:
    text = event_token(token)
    assert text[:2] == ("f/" if token.is_forward else "b/")
    assert parse_event_token(text) == token


@pytest.mark.parametrize("text", ["", "f/", "x/12", "f/-1", "f/12/s", "f/" + "9" * 21])
def test_tokens_kiln_did_not_hand_out_are_invalid(text: str) -> None:
    with pytest.raises(ValidationError, match="nextToken is invalid"):
        parse_event_token(text)


@pytest.mark.parametrize("text", ["p/\u00b2", "p/" + "9" * 5000, "p/-1", "p/ 1"])
def test_page_tokens_of_other_than_a_few_ascii_digits_are_invalid(text: str) -> None:
    # Found by fuzzing: "p/²" passed str.isdigit() and int() raised (a 500).
    with pytest.raises(ValidationError, match="nextToken is invalid"):
        parse_page_token(text)


def test_page_and_filter_tokens_round_trip() -> None:
    assert parse_page_token(None) == 0
    assert parse_page_token("p/50") == 50
    assert parse_filter_token(filter_token({"a/algo-1-1": 28})) == {"a/algo-1-1": 28}
    for bad in ("p/x", "50"):
        with pytest.raises(ValidationError):
            parse_page_token(bad)
    with pytest.raises(ValidationError):
        parse_filter_token("not base64 json")


@pytest.mark.parametrize(
    ("request_", "maximum", "expected"),
    [({}, 50, 50), ({"limit": 1}, 50, 1), ({"limit": 50}, 50, 50), ({}, 10_000, 10_000)],
)
def test_limit_defaults_to_the_maximum(
    request_: dict[str, int], maximum: int, expected: int
) -> None:
    assert limit(request_, maximum) == expected


def test_limit_past_the_maximum_is_refused_with_the_value() -> None:
    with pytest.raises(ValidationError, match="Value '51' at 'limit'"):
        limit({"limit": 51}, 50)


@pytest.mark.parametrize(
    ("pattern", "message", "matches"),
    [
        ("", "anything", True),
        ("ERROR", "an ERROR here", True),
        ("ERROR", "an error here", False),  # terms are case-sensitive, as in CloudWatch
        ("ERROR timeout", "ERROR: timeout", True),
        ("ERROR timeout", "ERROR only", False),
        ('"connection reset"', "peer: connection reset by", True),
        ('"connection reset"', "reset connection", False),
        ("?ERROR ?WARN", "WARN: disk", True),
        ("?ERROR ?WARN", "INFO: ok", False),
        ("ERROR -retrying", "ERROR retrying", False),
        ('ERROR -"will retry"', "ERROR, will retry", False),
        ('ERROR -"will retry"', "ERROR, giving up", True),
    ],
)
def test_filter_patterns(pattern: str, message: str, matches: bool) -> None:
    assert parse_filter_pattern(pattern).matches(message) is matches


@pytest.mark.parametrize("pattern", ["{ $.level = 1 }", "[ip, user]", "%ERR.*%"])
def test_unsupported_filter_patterns_are_refused_with_the_pattern(pattern: str) -> None:
    with pytest.raises(ValidationError, match="term patterns only") as error:
        parse_filter_pattern(pattern)
    assert repr(pattern) in str(error.value)
