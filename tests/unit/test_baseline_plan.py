"""Which format, header and columns a baseline of a data set is made of (baselining.plan)."""

from __future__ import annotations

import pytest

from kiln.services.monitoring.baselines import DatasetFormat, DatasetKind
from kiln.services.monitoring.baselining.plan import (
    UnsupportedDataError,
    csv_has_header,
    dataset_kind,
    excluded_columns,
)
from kiln.services.monitoring.baselining.training import tag_safe

CSV = DatasetFormat(DatasetKind.CSV, header=False)
CSV_HEADER = DatasetFormat(DatasetKind.CSV, header=True)
JSON = DatasetFormat(DatasetKind.JSON_LINES)


@pytest.mark.parametrize(
    ("content_type", "files", "kind"),
    [
        ("text/csv", ["a.bin"], DatasetKind.CSV),
        ("text/csv; header=present", [], DatasetKind.CSV),
        ("application/jsonlines", ["a.csv"], DatasetKind.JSON_LINES),  # ContentType wins
        ("application/x-parquet", [], DatasetKind.PARQUET),
        (None, ["part-0.parquet", "part-1.parquet"], DatasetKind.PARQUET),
        (None, ["data/rows.jsonl"], DatasetKind.JSON_LINES),
        (None, ["train"], DatasetKind.CSV),  # no suffix: CSV, SageMaker's built-ins' default
        (None, [], DatasetKind.CSV),
    ],
)
def test_dataset_kind_follows_content_type_then_suffix(
    content_type: str | None, files: list[str], kind: DatasetKind
) -> None:
    assert dataset_kind(content_type, files) is kind


@pytest.mark.parametrize(
    ("content_type", "files"),
    [("image/png", ["a.png"]), (None, ["a.csv", "b.parquet"])],
)
def test_dataset_kind_refuses_unknown_or_mixed_data(
    content_type: str | None, files: list[str]
) -> None:
    with pytest.raises(UnsupportedDataError):
        dataset_kind(content_type, files)


@pytest.mark.parametrize(
    ("content_type", "first_row", "has_header"),
    [
        (None, ["target", "mean radius"], True),
        (None, ["0", "17.99", "10.38"], False),
        (None, ["1", "red", "3.5"], False),  # one number: a data row with a string column
        (None, [], False),
        ("text/csv;header=present", ["0", "1"], True),
        ("text/csv; header=absent", ["a", "b"], False),
    ],
)
def test_csv_header_is_declared_or_sniffed(
    content_type: str | None, first_row: list[str], has_header: bool
) -> None:
    assert csv_has_header(content_type, first_row) is has_header


@pytest.mark.parametrize(
    ("names", "dataset_format", "tags", "excluded"),
    [
        (["_c0", "_c1", "_c2"], CSV, {}, ("_c0",)),  # headerless: label first
        (["mean radius", "target"], CSV_HEADER, {}, ("target",)),
        (["Label", "x"], JSON, {}, ("Label",)),
        (["x", "y"], CSV_HEADER, {}, ()),  # named columns, none a label: all are inputs
        (["x", "y"], JSON, {}, ()),
        (["_c0", "_c1"], CSV, {"kiln:baseline-exclude": "none"}, ()),
        (["a", "b", "c"], CSV_HEADER, {"kiln:baseline-exclude": "a c"}, ("a", "c")),
        (["a", "b", "target"], CSV_HEADER, {"kiln:baseline-exclude": "b"}, ("b",)),
    ],
)
def test_excluded_columns_are_the_label_unless_a_tag_says(
    names: list[str],
    dataset_format: DatasetFormat,
    tags: dict[str, str],
    excluded: tuple[str, ...],
) -> None:
    assert excluded_columns(names, dataset_format, tags).excluded == excluded


def test_exclude_tag_naming_no_column_is_refused_with_the_columns() -> None:
    with pytest.raises(UnsupportedDataError, match="nope.*its columns: a, b"):
        excluded_columns(["a", "b"], CSV_HEADER, {"kiln:baseline-exclude": "nope"})


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("ValueError: bad (row 3)", "ValueError: bad row 3"),
        ("s3://b/k.json", "s3://b/k.json"),
        ("x" * 300, "x" * 256),
    ],
)
def test_tag_safe_keeps_only_what_a_tag_value_allows(text: str, value: str) -> None:
    assert tag_safe(text) == value
