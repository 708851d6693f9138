"""Reading CRM exports as a stream of column batches.

Exports come in UTF-8 with or without a byte-order mark, comma- or semicolon-separated
(Excel in much of Europe writes semicolons), with quoted cells holding commas and newlines.
The file is never loaded whole: memory stays flat however long the export is.

Arrow's CSV reader does the parsing, in C, a block at a time. It does not know which line
a record started on, so when something is wrong we find out with one pass of Python's csv
module over the file, which counts physical lines exactly; a clean import never pays for it.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as arrow_csv

from truce.imports.problems import FileProblem

DELIMITERS = (",", ";", "\t")


@dataclass
class RawBatch:
    first_record: int  # index of this batch's first record in the file, counting from 0
    columns: dict[str, pa.Array]  # header → cells as text, exactly as in the file

    @property
    def size(self) -> int:
        return len(next(iter(self.columns.values()))) if self.columns else 0

    def cells(self, index: int) -> dict[str, str]:
        return {header: column[index].as_py() for header, column in self.columns.items()}


def _guess_delimiter(header_line: str) -> str:
    """The separator that splits the header into the most columns, counted outside quotes."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class _Counting(io.RawIOBase):
    """A file that remembers how many bytes were read from it, for the progress bar."""

    def __init__(self, handle):
        self.handle, self.consumed = handle, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.handle.readinto(buffer)
        self.consumed += count or 0
        return count


class CsvFile:
    """A CSV export: its header, its separator, and its records in batches of columns."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileProblem(f"{self.path}: no such file")
        self.size = self.path.stat().st_size
        self.malformed = 0
        self._source: _Counting | None = None
        with open(self.path, encoding="utf-8-sig", newline="") as handle:
            try:
                first = handle.readline()
            except UnicodeDecodeError:  # decoded a block at a time, so the bad byte may be further down
                line = self._not_utf8_line() or 1
                raise FileProblem(f"{self.path}: line {line}: the file is not UTF-8 text") from None
        if not first.strip():
            raise FileProblem(f"{self.path}: the file is empty; expected a header line first")
        self.delimiter = _guess_delimiter(first)
        self.header = [name.strip() for name in next(csv.reader([first], delimiter=self.delimiter))]
        blank = [i + 1 for i, name in enumerate(self.header) if not name]
        if blank:
            raise FileProblem(f"{self.path}: line 1: column {blank[0]} has no name in the header")
        twice = sorted({n for n in self.header if self.header.count(n) > 1})
        if twice:
            raise FileProblem(f"{self.path}: line 1: column {twice[0]!r} appears twice in the header")

    @property
    def position(self) -> int:
        """Bytes read so far."""
        return self._source.consumed if self._source else 0

    def _on_malformed(self, _row) -> str:
        self.malformed += 1  # reported with its line by malformed_lines()
        return "skip"

    def batches(self, rows: int) -> Iterator[RawBatch]:
        handle = open(self.path, "rb")  # noqa: SIM115 - closed below
        try:
            self._source = _Counting(handle)
            reader = arrow_csv.open_csv(
                io.BufferedReader(self._source, buffer_size=1 << 20),
                read_options=arrow_csv.ReadOptions(column_names=self.header, skip_rows=1, block_size=1 << 21),
                parse_options=arrow_csv.ParseOptions(
                    delimiter=self.delimiter, newlines_in_values=True, invalid_row_handler=self._on_malformed
                ),
                convert_options=arrow_csv.ConvertOptions(
                    column_types=dict.fromkeys(self.header, pa.string()),
                    strings_can_be_null=False,
                    quoted_strings_can_be_null=False,
                ),
            )
            yield from self._rebatch(reader, rows)
        except pa.ArrowInvalid as exc:
            raise self._explain(exc) from None
        finally:
            handle.close()

    def _rebatch(self, reader, rows: int) -> Iterator[RawBatch]:
        pending, held, first = [], 0, 0
        for record_batch in reader:
            pending.append(record_batch)
            held += record_batch.num_rows
            while held >= rows:
                table = pa.Table.from_batches(pending)
                yield self._raw(first, table.slice(0, rows))
                first += rows
                rest = table.slice(rows)
                pending, held = (rest.to_batches(), rest.num_rows)
        if held:
            yield self._raw(first, pa.Table.from_batches(pending))

    def _raw(self, first: int, table: pa.Table) -> RawBatch:
        return RawBatch(first, {name: table.column(name).combine_chunks() for name in self.header})

    def _explain(self, exc: pa.ArrowInvalid) -> FileProblem:
        """Arrow says what is wrong but not where; find the line with Python's csv module."""
        for line, problem in self._scan_problems():
            return FileProblem(f"{self.path}: line {line}: {problem}")
        return FileProblem(f"{self.path}: cannot read the file: {exc}")

    def _not_utf8_line(self) -> int | None:
        with open(self.path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError:
                    return number
        return None

    def _scan_problems(self) -> Iterator[tuple[int, str]]:
        line = self._not_utf8_line()
        if line is not None:
            yield line, "the file is not UTF-8 text"
            return
        with open(self.path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            try:
                for _cells in reader:
                    pass
            except csv.Error as exc:
                yield reader.line_num, str(exc)

    def records(self) -> Iterator[tuple[int, list[str]]]:
        """Every record with the line it starts on, the way Arrow counts them (blank lines skipped)."""
        with open(self.path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter=self.delimiter)
            next(reader)
            line = reader.line_num  # physical lines consumed so far
            for cells in reader:
                start, line = line + 1, reader.line_num
                if cells:
                    yield start, cells

    def locate(self, records: set[int]) -> dict[int, int]:
        """The line each of `records` (indices among well-formed records) starts on."""
        found: dict[int, int] = {}
        index, width = 0, len(self.header)
        if not records:
            return found
        last = max(records)
        for start, cells in self.records():
            if len(cells) != width:
                continue  # Arrow skipped it too; malformed_lines() reports it
            if index in records:
                found[index] = start
            if index >= last:
                break
            index += 1
        return found

    def malformed_lines(self) -> list[tuple[int, str, dict[str, str]]]:
        """Records whose number of cells differs from the header's: line, problem, cells."""
        width = len(self.header)
        return [
            (
                start,
                f"{len(cells)} cells, but the header has {width} columns",
                dict(zip(self.header, cells, strict=False)),
            )
            for start, cells in self.records()
            if len(cells) != width
        ]
