from __future__ import annotations

import pytest

from kiln.services.logs.records import LogEvent, decode, encode, timestamp_of


@pytest.mark.parametrize(
    ("message", "line"),
    [
        ("hello", b"0000000000005 0000000000007 hello\n"),
        ("two\nlines", b"0000000000005 0000000000007 two\\nlines\n"),
        ("back\\slash", b"0000000000005 0000000000007 back\\\\slash\n"),
        ("", b"0000000000005 0000000000007 \n"),
        ("caf\u00e9", "0000000000005 0000000000007 caf\u00e9\n".encode()),
    ],
)
def test_an_event_is_one_line_and_reads_back(message: str, line: bytes) -> None:
    event = LogEvent(5, message, 7)
    assert encode(event) == line
    assert decode(line) == event
    assert timestamp_of(line) == 5


@pytest.mark.parametrize("line", [b"", b"12 34 torn\n", b"000000000000x 0000000000007 m\n"])
def test_a_line_that_is_not_an_event_decodes_to_none(line: bytes) -> None:
    assert decode(line) is None
