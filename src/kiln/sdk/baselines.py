"""A baseline of any data set, local or in the store: what ``kiln monitor suggest-baseline``
and ``DefaultModelMonitor.suggest_baseline`` run.

The data set is a file, a folder, or an ``s3://`` prefix of Kiln's store (downloaded to a
temporary folder, then analyzed here, streaming); the two files go to a folder or an ``s3://``
prefix. Local data and a local output need no server.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kiln.errors import ValidationError
from kiln.sdk.progress import transfer_progress
from kiln.sdk.session import Session
from kiln.services.monitoring.baselines import DatasetFormat, DatasetKind
from kiln.services.monitoring.baselining.suggest import (
    Baseline,
    data_files,
    suggest_baseline,
    write_files,
)
from kiln.storage import S3Uri


@dataclass(frozen=True)
class BaselineOutput:
    """Where a baseline's two files went, and the baseline itself."""

    statistics_uri: str
    constraints_uri: str
    baseline: Baseline


def dataset_format_of(document: Mapping[str, Any]) -> DatasetFormat:
    """The analyzer's format for the sagemaker SDK's ``DatasetFormat`` dict."""
    if "csv" in document:
        return DatasetFormat(DatasetKind.CSV, header=bool(document["csv"].get("header", True)))
    if "json" in document:
        if not document["json"].get("lines", True):
            raise ValidationError(
                "DatasetFormat.json(lines=False) is not supported: use JSON Lines"
            )
        return DatasetFormat(DatasetKind.JSON_LINES)
    if "parquet" in document:
        return DatasetFormat(DatasetKind.PARQUET)
    if "sagemakerCaptureJson" in document:
        return DatasetFormat(DatasetKind.CAPTURE)
    raise ValidationError(
        f"Unknown DatasetFormat {dict(document)!r}: expected csv, json, parquet or "
        "sagemakerCaptureJson"
    )


def make_baseline(
    dataset: str,
    dataset_format: DatasetFormat,
    output: str,
    session: Callable[[], Session],
    echo: Callable[[str], None] = lambda _line: None,
) -> BaselineOutput:
    """Analyze ``dataset`` and write statistics.json and constraints.json to ``output``."""
    with tempfile.TemporaryDirectory(prefix="kiln-baseline-") as scratch:
        if dataset.startswith("s3://"):
            paths = _download(session(), S3Uri.parse(dataset), Path(scratch))
        else:
            if not Path(dataset).exists():
                raise ValidationError(f"No data set at {dataset!r}: give a file, folder or s3://")
            paths = data_files(Path(dataset))
        if not paths:
            raise ValidationError(f"No files in the data set {dataset!r}")
        size = sum(p.stat().st_size for p in paths)
        echo(f"Analyzing {len(paths)} file(s), {size / 2**20:.1f} MiB, as {dataset_format.kind}")
        baseline = suggest_baseline(paths, dataset_format)
    echo(
        f"{baseline.statistics.item_count} rows, {len(baseline.statistics.features)} features"
        + (
            f", {baseline.statistics.malformed_lines} malformed line(s) skipped"
            if baseline.statistics.malformed_lines
            else ""
        )
    )
    return _write(baseline, output, session)


def _download(session: Session, prefix: S3Uri, folder: Path) -> list[Path]:
    total = sum(size for _key, size in session.s3.keys(prefix))
    with transfer_progress(f"Downloading {prefix}", total) as progress:
        session.s3.download_prefix(prefix, folder, progress)
    return data_files(folder)


def _write(baseline: Baseline, output: str, session: Callable[[], Session]) -> BaselineOutput:
    if output.startswith("s3://"):
        prefix = S3Uri.parse(output)
        store = session().s3
        uris = {}
        for name, body in baseline.files().items():
            uri = prefix.join(name)
            store.put_bytes(uri, body, create_bucket=True)
            uris[name] = str(uri)
        return BaselineOutput(uris["statistics.json"], uris["constraints.json"], baseline)
    statistics, constraints = write_files(baseline, Path(output))
    return BaselineOutput(str(statistics), str(constraints), baseline)
