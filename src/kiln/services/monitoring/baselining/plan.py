"""What a baseline of a data set is made of: its format, and the columns left out of it.

Pure decisions, table-tested. The rules (docs/baselines.md):

- Format: the channel's ``ContentType`` (``text/csv``, ``application/jsonlines``,
  ``application/x-parquet``…) when it has one, else the files' suffix, else CSV.
- CSV header: ``header=present`` or ``header=absent`` in the ``ContentType`` when given, else a
  first row none of whose fields is a number is a header.
- Left out: the model's label, not its inputs. A column named ``target`` or ``label`` (any case)
  when the data names its columns; else the first column of headerless CSV (``_c0``: SageMaker's
  built-in algorithms and Kiln's example put the label first). The tag
  ``kiln:baseline-exclude`` overrides: column names separated by spaces, or ``none``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from kiln.services.monitoring.baselines import DatasetFormat, DatasetKind
from kiln.services.monitoring.baselining.errors import UnsupportedDataError

EXCLUDE_TAG = "kiln:baseline-exclude"
LABEL_NAMES = ("target", "label")
HEADERLESS_LABEL = "_c0"

_CONTENT_TYPES = {
    "text/csv": DatasetKind.CSV,
    "application/csv": DatasetKind.CSV,
    "application/jsonlines": DatasetKind.JSON_LINES,
    "application/json": DatasetKind.JSON_LINES,
    "application/x-parquet": DatasetKind.PARQUET,
    "application/vnd.apache.parquet": DatasetKind.PARQUET,
}
_SUFFIXES = {
    ".csv": DatasetKind.CSV,
    ".jsonl": DatasetKind.JSON_LINES,
    ".json": DatasetKind.JSON_LINES,
    ".parquet": DatasetKind.PARQUET,
}


@dataclass(frozen=True)
class ColumnChoice:
    """The columns a baseline leaves out, and why."""

    excluded: tuple[str, ...]
    reason: str


def dataset_kind(content_type: str | None, file_names: Sequence[str]) -> DatasetKind:
    """The kind of a channel's files, from its ContentType, else their suffixes, else CSV."""
    if content_type:
        media = content_type.split(";", 1)[0].strip().lower()
        if media not in _CONTENT_TYPES:
            raise UnsupportedDataError(f"ContentType {content_type!r} is not CSV, JSON or Parquet")
        return _CONTENT_TYPES[media]
    kinds = {_SUFFIXES.get(_suffix(name), DatasetKind.CSV) for name in file_names}
    if len(kinds) > 1:
        found = ", ".join(sorted(str(kind) for kind in kinds))
        raise UnsupportedDataError(f"the files mix formats ({found}): set the ContentType")
    return kinds.pop() if kinds else DatasetKind.CSV


def csv_has_header(content_type: str | None, first_row: Sequence[str]) -> bool:
    """Whether a CSV file starts with a header (see the module docstring)."""
    declared = re.search(r"header\s*=\s*(present|absent)", (content_type or "").lower())
    if declared is not None:
        return declared.group(1) == "present"
    return bool(first_row) and not any(_is_number(field) for field in first_row)


def excluded_columns(
    names: Sequence[str], dataset_format: DatasetFormat, tags: Mapping[str, str]
) -> ColumnChoice:
    """The columns to leave out of a baseline of data with columns ``names``."""
    if EXCLUDE_TAG in tags:
        return _override(names, tags[EXCLUDE_TAG])
    labels = tuple(name for name in names if name.lower() in LABEL_NAMES)
    if labels:
        return ColumnChoice(labels, "named as a label")
    if dataset_format.kind is DatasetKind.CSV and not dataset_format.header and names:
        return ColumnChoice((HEADERLESS_LABEL,), "the label column of headerless CSV")
    return ColumnChoice((), "no column is named as a label")


def _override(names: Sequence[str], value: str) -> ColumnChoice:
    asked = tuple(part for part in re.split(r"[\s,]+", value.strip()) if part)
    if asked == ("none",):
        return ColumnChoice((), f"{EXCLUDE_TAG}=none")
    unknown = [name for name in asked if name not in names]
    if unknown:
        raise UnsupportedDataError(
            f"{EXCLUDE_TAG} names {', '.join(unknown)}, not columns of the data "
            f"(its columns: {', '.join(names[:10])}{' …' if len(names) > 10 else ''})"
        )
    return ColumnChoice(asked, f"{EXCLUDE_TAG}")


def _suffix(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > name.rfind("/") else ""


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
