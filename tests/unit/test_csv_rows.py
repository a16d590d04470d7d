"""The two fast parsers of CSV rows (Arrow's when pyarrow is installed, numpy's otherwise) read
the same numbers and hand the same rows to the text path."""

from __future__ import annotations

import numpy as np
import pytest

from kiln.services.monitoring.baselines import csv_rows

PARSERS = [
    pytest.param(lambda lines, width: csv_rows._parse_with_arrow(lines, width), id="arrow"),
    pytest.param(lambda lines, width: csv_rows._parse_with_numpy(lines), id="numpy"),
]


@pytest.mark.parametrize("parse", PARSERS)
def test_numbers_parse_exactly(parse: object) -> None:
    values = np.random.default_rng(0).normal(size=(200, 5))
    lines = [",".join(repr(float(v)) for v in row) for row in values]
    matrix = parse(lines, 5)  # type: ignore[operator]
    assert np.array_equal(matrix, values)


@pytest.mark.parametrize("parse", PARSERS)
@pytest.mark.parametrize(
    "lines",
    [
        ["1,2", '"3",4'],  # a quoted field is text
        ["1,2", "3,"],  # an empty field is a missing value
        ["1,2", "a,4"],  # a word
        ["1,2", "3,4,5"],  # a row of another width
    ],
)
def test_what_is_not_all_numbers_goes_to_the_text_path(parse: object, lines: list[str]) -> None:
    matrix = parse(lines, 2)  # type: ignore[operator]
    assert matrix is None or matrix.shape != (2, 2)
    assert csv_rows._parse(lines, 2) is None
