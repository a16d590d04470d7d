"""NextToken encoding."""

from __future__ import annotations

import pytest

from kiln.db.listing import decode_token, encode_token
from kiln.errors import ValidationError


def test_token_round_trips() -> None:
    assert decode_token(encode_token(40)) == 40


def test_no_token_means_the_first_page() -> None:
    assert decode_token(None) == 0


@pytest.mark.parametrize(
    "token",
    # 2**63 is past SQL's 64-bit OFFSET: SQLite's driver raised OverflowError (found by fuzzing).
    ["garbage", encode_token(-1), "eyJ4IjogMX0=", encode_token(2**63)],
)
def test_forged_token_is_a_validation_error(token: str) -> None:
    with pytest.raises(ValidationError, match="Invalid NextToken"):
        decode_token(token)
