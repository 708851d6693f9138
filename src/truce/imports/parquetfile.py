"""Reading a Parquet file (what `truce export --format parquet` writes) as the same column batches
as a CSV export, so an import takes either.

Cells become the text a CSV would hold: moments in ISO 8601 with their zone, booleans as
true/false, numbers as written, an empty cell for a missing value. Rows are numbered as the
lines of the same table written as CSV: the header is line 1, the first row line 2, so an error
names the same place whichever of the two files a person opens.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from truce.imports.csvfile import FileProblem, RawBatch

MAGIC = b"PAR1"


def is_parquet(path: str | os.PathLike) -> bool:
    """By its first bytes, not its name: a renamed file is still what it is."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == MAGIC
    except OSError:
        return False


class ParquetFile:
    """A Parquet file: its columns' names as the header, and its rows in batches of text columns."""

    delimiter = None
    malformed = 0  # a Parquet file has no ragged rows

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileProblem(f"{self.path}: no such file")
        self.size = self.path.stat().st_size
        try:
            self._file = pq.ParquetFile(self.path)
        except (pa.ArrowInvalid, OSError) as exc:
            raise FileProblem(f"{self.path}: cannot read the Parquet file: {exc}") from None
        self.header = list(self._file.schema_arrow.names)
        if not self.header:
            raise FileProblem(f"{self.path}: the file has no columns")
        self._read = 0

    @property
    def position(self) -> int:
        """Bytes read so far, estimated from the rows read (Parquet compresses by column)."""
        rows = self._file.metadata.num_rows or 1
        return min(self.size, self.size * self._read // rows)

    def batches(self, rows: int) -> Iterator[RawBatch]:
        first = 0
        for batch in self._file.iter_batches(batch_size=rows):
            yield RawBatch(first, {name: as_text(batch.column(name)) for name in self.header})
            first += batch.num_rows
            self._read = first

    def locate(self, records: set[int]) -> dict[int, int]:
        return {record: record + 2 for record in records}

    def malformed_lines(self) -> list[tuple[int, str, dict[str, str]]]:
        return []


def as_text(column: pa.Array) -> pa.Array:
    """A column as the text a CSV export holds, with "" for a missing value."""
    kind = column.type
    if pa.types.is_timestamp(kind):
        zone = "%z" if kind.tz else ""
        column = pc.strftime(column, format=f"%Y-%m-%dT%H:%M:%S{zone}")
    elif pa.types.is_boolean(kind):
        column = pc.if_else(column, "true", "false")
    elif not pa.types.is_string(kind) and not pa.types.is_large_string(kind):
        column = pc.cast(column, pa.string())
    return pc.fill_null(column.cast(pa.string()), "")
