"""Parquet files read as one data set, record batch by record batch (pyarrow, imported lazily).

Column types come from the Parquet schema, as Spark reads them: integer columns are Integral,
floating ones Fractional (NaN and infinities count as missing), booleans the strings
``true``/``false``, strings strings, and any other type (dates, decimals, lists, structs) the
text pyarrow gives its values. Nulls are missing. pyarrow is the optional extra ``parquet``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kiln.services.monitoring.baselines.columns import (
    Chunk,
    ColumnChunk,
    from_values,
)
from kiln.services.monitoring.baselines.csv_chunks import CHUNK_ROWS

_NO_TEXTS = np.empty(0, dtype=np.str_)


class ParquetUnavailableError(RuntimeError):
    """Reading Parquet needs pyarrow, which is not installed."""


@dataclass
class ParquetChunks:
    """Reads Parquet files batch by batch (nothing in them is counted as malformed)."""

    paths: Sequence[Path]
    chunk_rows: int = CHUNK_ROWS
    malformed_lines: int = 0

    def __iter__(self) -> Iterator[Chunk]:
        """Yield each record batch of every file, in order."""
        parquet = _pyarrow_parquet()
        for path in self.paths:
            for batch in parquet.ParquetFile(path).iter_batches(batch_size=self.chunk_rows):
                yield Chunk(
                    batch.num_rows,
                    {name: _column(batch.column(name)) for name in batch.schema.names},
                )


def _pyarrow_parquet() -> Any:
    try:
        import pyarrow.parquet as parquet
    except ImportError as error:
        raise ParquetUnavailableError(
            "reading Parquet needs pyarrow: install Kiln with the 'parquet' extra "
            "(pip install 'kiln[parquet]')"
        ) from error
    return parquet


def _column(array: Any) -> ColumnChunk:
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        numbers = array.drop_null().to_numpy(zero_copy_only=False).astype(np.float64)
        finite = numbers[np.isfinite(numbers)]
        integral = len(finite) if pa.types.is_integer(kind) else 0
        return ColumnChunk(finite, integral, _NO_TEXTS, len(array) - len(finite))
    if pa.types.is_boolean(kind) or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        present = pc.cast(array.drop_null(), pa.string()).to_numpy(zero_copy_only=False)
        return ColumnChunk(np.empty(0), 0, present.astype(np.str_), array.null_count)
    return from_values([None if v is None else str(v) for v in array.to_pylist()])
