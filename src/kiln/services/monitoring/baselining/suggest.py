"""A baseline of a data set: statistics.json and constraints.json, the columns left out dropped.

The files are what SageMaker's ``DefaultModelMonitor.suggest_baseline`` writes, under the same
names; the analyzer streams over the data (``baselines.analyze_dataset``).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kiln.services.monitoring.baselines import (
    Constraints,
    DatasetFormat,
    Statistics,
    analyze_dataset,
    suggest_constraints,
)

STATISTICS_FILE = "statistics.json"
CONSTRAINTS_FILE = "constraints.json"


@dataclass(frozen=True)
class Baseline:
    """A data set's statistics and the constraints suggested from them."""

    statistics: Statistics
    constraints: Constraints

    def files(self) -> dict[str, bytes]:
        """The two files, name → JSON bytes, as SageMaker names them."""
        return {
            STATISTICS_FILE: _json(self.statistics.to_document()),
            CONSTRAINTS_FILE: _json(self.constraints.to_document()),
        }


def suggest_baseline(
    paths: Sequence[Path], dataset_format: DatasetFormat, exclude: Collection[str] = ()
) -> Baseline:
    """Analyze ``paths`` as one data set; the baseline without the columns in ``exclude``."""
    return baseline_from(analyze_dataset(paths, dataset_format), exclude)


def baseline_from(statistics: Statistics, exclude: Collection[str] = ()) -> Baseline:
    """The baseline of a data set with ``statistics``, the columns in ``exclude`` left out."""
    kept = without_columns(statistics, exclude)
    return Baseline(kept, suggest_constraints(kept))


def without_columns(statistics: Statistics, exclude: Collection[str]) -> Statistics:
    """``statistics`` with the features named in ``exclude`` left out."""
    kept = tuple(f for f in statistics.features if f.name not in exclude)
    return replace(statistics, features=kept)


def write_files(baseline: Baseline, folder: Path) -> list[Path]:
    """Write the two files into ``folder`` (made if absent); their paths."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, body in baseline.files().items():
        (folder / name).write_bytes(body)
        written.append(folder / name)
    return written


def first_csv_row(path: Path) -> list[str]:
    """The first non-blank row of a CSV file (empty when there is none)."""
    with path.open(newline="", encoding="utf-8", errors="replace") as file:
        return next((row for row in csv.reader(file) if row), [])


def data_files(root: Path) -> list[Path]:
    """A file, or every regular file under a folder (hidden ones aside), in name order."""
    if root.is_file():
        return [root]
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(root).parts)
    )


def _json(document: object) -> bytes:
    return json.dumps(document, indent=2).encode()
