"""Captured invocations (``sagemakerCaptureJson``) read as one data set of model inputs.

Each line is a capture object (``capture/records.py``); the analyzer reads
``captureData.endpointInput``: ``data`` with its ``encoding``. ``CSV`` data is CSV text and may
hold several rows; ``JSON`` data is JSON text; ``BASE64`` data is decoded first and then read as
JSON when ``observedContentType`` names JSON, else as CSV. CSV rows have no header: their columns
take ``feature_names`` (SageMaker's analyzer gives a headerless window the baseline's column
names by position) and then Spark's ``_c<i>``. JSON data is an object (one row, its keys the
features), an array of objects, or ``{"instances"|"inputs": [...]}`` of objects or of positional
rows. Lines that are not JSON, lack the input, or hold undecodable data are counted as malformed.
"""

from __future__ import annotations

import base64
import binascii
import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from kiln.services.monitoring.baselines.columns import Chunk, merge
from kiln.services.monitoring.baselines.csv_chunks import CHUNK_ROWS
from kiln.services.monitoring.baselines.csv_rows import column_names, rows_chunk
from kiln.services.monitoring.baselines.json_chunks import records_chunk
from kiln.services.monitoring.baselines.spans import Span, line_chunks

_ROW_LISTS = ("instances", "inputs")


@dataclass
class CaptureChunks:
    """Reads capture files chunk by chunk (``chunk_rows`` lines each); counts malformed lines."""

    paths: Sequence[Path | Span]
    chunk_rows: int = CHUNK_ROWS
    feature_names: Sequence[str] = ()
    csv_width: int | None = None
    """How many fields captured CSV rows have; None: as many as the first one has. A parallel
    analysis reads each part with the whole data set's width, as one reader would."""
    malformed_lines: int = 0
    first_csv_width: int | None = None
    _csv_names: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Chunk]:
        """Yield the inputs of each chunk of capture lines of every file, in order."""
        self.malformed_lines = 0
        self._csv_names = []
        self.first_csv_width = None
        for path in self.paths:
            for lines in line_chunks(path, self.chunk_rows):
                chunk = self._chunk(lines)
                if chunk.rows:
                    yield chunk

    def _chunk(self, lines: list[bytes]) -> Chunk:
        csv_rows: list[str] = []
        records: list[dict[str, Any]] = []
        loads, append = orjson.loads, csv_rows.append
        for line in lines:
            # Inlined for the common case (one CSV row per invocation): a million lines pay
            # only for the JSON parse; anything else takes the general path.
            try:
                given = loads(line)["captureData"]["endpointInput"]
                data = given["data"]
                if given["encoding"] == "CSV" and type(data) is str and "\n" not in data:
                    append(data)
                    continue
            except (orjson.JSONDecodeError, KeyError, TypeError):
                pass
            if not _read_input(line, csv_rows, records):
                self.malformed_lines += 1
        chunk = Chunk(0)
        if csv_rows:
            if not self._csv_names:
                self.first_csv_width = len(next(csv.reader(csv_rows[:1])))
                width = self.first_csv_width if self.csv_width is None else self.csv_width
                self._csv_names = column_names(width, None, self.feature_names)
            chunk, malformed = rows_chunk(csv_rows, self._csv_names)
            self.malformed_lines += malformed
        if records:
            chunk = merge(chunk, records_chunk(records))
        return chunk


def _read_input(line: bytes, csv_rows: list[str], records: list[dict[str, Any]]) -> bool:
    """Add one capture line's input rows to ``csv_rows`` or ``records``; False if malformed
    (a blank line is neither)."""
    try:
        given = orjson.loads(line)["captureData"]["endpointInput"]
        data, encoding = given["data"], given.get("encoding", "CSV")
        if encoding == "BASE64":
            data = base64.b64decode(data, validate=True).decode("utf-8")
            content_type = str(given.get("observedContentType", ""))
            encoding = "JSON" if "json" in content_type.lower() else "CSV"
    except orjson.JSONDecodeError:
        return not line.strip()
    except (KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        return False
    if not isinstance(data, str):
        return False
    if encoding != "CSV":
        return _json_rows(data, csv_rows, records)
    # The common case, one row per invocation, costs one append; blank rows go in rows_chunk.
    if "\n" in data:
        csv_rows.extend(data.splitlines())
    else:
        csv_rows.append(data)
    return True


def _json_rows(data: str, csv_rows: list[str], records: list[dict[str, Any]]) -> bool:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    if isinstance(value, dict):
        rows = next((value[key] for key in _ROW_LISTS if key in value), None)
        if rows is None:
            records.append(value)
            return True
        value = rows
    if not isinstance(value, list):
        return False
    for row in value:
        if isinstance(row, dict):
            records.append(row)
        elif isinstance(row, list):
            csv_rows.append(",".join("" if v is None else _field(v) for v in row))
        else:
            return False
    return True


def _field(value: Any) -> str:
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return '"' + text.replace('"', '""') + '"' if any(c in text for c in ',"\n') else text
