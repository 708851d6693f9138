"""Reading CRM exports as a stream of rows, each with the line it started on.

Exports come in UTF-8 with or without a byte-order mark, comma- or semicolon-separated
(Excel in much of Europe writes semicolons), with quoted cells holding commas and newlines.
The file is never loaded whole: memory stays flat however long the export is.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

DELIMITERS = (",", ";", "\t")


class FileProblem(ValueError):
    """The file as a whole cannot be read (missing, empty, not UTF-8, no header)."""


@dataclass(frozen=True)
class Row:
    line: int  # the line the record starts on, counting the header as line 1
    cells: dict[str, str]
    extra_cells: int = 0  # cells beyond the header's columns: a sign of a broken row


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


class CsvStream:
    """Open once, read the header, then iterate rows; `position` feeds a progress bar."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        if not self.path.is_file():
            raise FileProblem(f"{self.path}: no such file")
        self.size = self.path.stat().st_size
        self._binary = open(self.path, "rb")  # noqa: SIM115 - closed in close()
        self._text = io.TextIOWrapper(self._binary, encoding="utf-8-sig", newline="")
        try:
            first = self._text.readline()
        except UnicodeDecodeError:
            self.close()
            raise FileProblem(f"{self.path}: line 1: the file is not UTF-8 text") from None
        if not first.strip():
            self.close()
            raise FileProblem(f"{self.path}: the file is empty; expected a header line first")
        self.delimiter = _guess_delimiter(first)
        self.header = [name.strip() for name in next(csv.reader([first], delimiter=self.delimiter))]
        blank = [i + 1 for i, name in enumerate(self.header) if not name]
        if blank:
            self.close()
            raise FileProblem(f"{self.path}: line 1: column {blank[0]} has no name in the header")
        self._reader = csv.reader(self._text, delimiter=self.delimiter)

    @property
    def position(self) -> int:
        """Bytes read so far."""
        return self._binary.tell()

    def rows(self) -> Iterator[Row]:
        header, width = self.header, len(self.header)
        line = 1  # lines consumed so far; the next record starts on line + 1
        reader = self._reader
        while True:
            start = line + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                raise FileProblem(f"{self.path}: line {start}: the file is not UTF-8 text") from None
            except csv.Error as exc:
                raise FileProblem(f"{self.path}: line {start}: {exc}") from None
            line = reader.line_num + 1
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue  # blank lines are not records
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            yield Row(start, dict(zip(header, cells, strict=False)), max(0, len(cells) - width))

    def close(self) -> None:
        self._binary.close()

    def __enter__(self) -> CsvStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
