"""A batch of rows from an export, held as columns.

Working column by column (one list per field) instead of row by row keeps the per-row
cost of an import near the cost of reading the file: each parser runs in a tight loop
over one column, and the store receives whole columns at once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from truce.csvsafe import NEUTRALISED
from truce.imports.csvfile import RawBatch
from truce.imports.dialects import HeaderPlan
from truce.imports.values import EMAIL_PATTERN, BadValue

# Fields holding an email address: checked in Arrow (RE2) a column at a time.
EMAIL_FIELDS = frozenset({"email", "contact_email", "primary_contact_email"})


@dataclass
class RowError:
    """A problem with one record. Lines are filled in at the end (see CsvFile.locate)."""

    record: int
    column: str
    kind: str  # validation, duplicate, not_found
    message: str
    line: int | None = None
    refers_to: int | None = None  # another record the message names ("same email as line …")

    def finish(self, lines: dict[int, int]) -> None:
        self.line = lines.get(self.record, self.line)
        if self.refers_to is not None:
            self.message = self.message.replace("{line}", str(lines.get(self.refers_to, "?")))

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", column {self.column!r}" if self.column else "")
        return f"{where}: {self.message}"


@dataclass
class Batch:
    raw: RawBatch
    headers: dict[str, str]  # truce field → the file's header, for messages
    values: dict[str, list] = field(default_factory=dict)  # truce field → parsed value per row, None if blank
    store: dict[str, list] = field(default_factory=dict)  # store column → value per row
    errors: dict[int, list[RowError]] = field(default_factory=dict)
    became: list[list[tuple[str, dt.datetime]]] = field(default_factory=list)  # HubSpot "Became a … Date"
    match: list = field(default_factory=list)  # the stored row each row updates, or None
    history: list | None = None  # per row, dated (stage, when) moves in order
    new_company: list | None = None  # per row, a company name no account has yet

    @property
    def size(self) -> int:
        return self.raw.size

    def record(self, index: int) -> int:
        return self.raw.first_record + index

    def fail(self, index: int, field_name: str, kind: str, message: str, refers_to: int | None = None) -> None:
        column = self.headers.get(field_name, field_name)
        error = RowError(self.record(index), column, kind, message, refers_to=refers_to)
        self.errors.setdefault(index, []).append(error)

    def good(self) -> list[int]:
        return [i for i in range(self.size) if i not in self.errors]

    def column(self, name: str) -> list:
        """A store column, or Nones if no row sets it."""
        return self.store.get(name) or [None] * self.size

    def put(self, name: str, index: int, value) -> None:
        if name not in self.store:
            self.store[name] = [None] * self.size
        self.store[name][index] = value


def _texts(column: pa.Array) -> list[str]:
    return pc.utf8_trim_whitespace(column).to_pylist()


def _parse_column(batch: Batch, header: str, cells: list[str], parse: Callable) -> list:
    try:  # the common case: every cell is fine, so no try/except per cell
        return [parse(cell) if cell else None for cell in cells]
    except BadValue:
        pass
    parsed = []
    for index, cell in enumerate(cells):
        try:
            parsed.append(parse(cell) if cell else None)
        except BadValue as exc:
            parsed.append(None)
            batch.errors.setdefault(index, []).append(RowError(batch.record(index), header, "validation", str(exc)))
    return parsed


def _emails(batch: Batch, header: str, column: pa.Array) -> list:
    lowered = pc.utf8_lower(pc.utf8_trim_whitespace(column))
    valid = pc.match_substring_regex(lowered, EMAIL_PATTERN).to_pylist()
    addresses = lowered.to_pylist()
    for index, (address, ok) in enumerate(zip(addresses, valid, strict=True)):
        if address and not ok:
            cell = column[index].as_py().strip()
            batch.errors.setdefault(index, []).append(
                RowError(batch.record(index), header, "validation", f"not an email address: {cell!r}")
            )
    return [address if address and ok else None for address, ok in zip(addresses, valid, strict=True)]


def read_batch(raw: RawBatch, plan: HeaderPlan, parsers: dict[str, Callable], required: list[tuple[str, ...]]) -> Batch:
    """Parse every mapped column; bad cells and missing required values become errors."""
    batch = Batch(raw, {name: header for header, name in plan.fields.items()})
    present: dict[str, list[bool]] = {}
    for header, name in plan.fields.items():
        column = raw.columns[header]
        if plan.dialect == "truce":  # a truce export: its formula guards come off (truce.csvsafe)
            column = pc.replace_substring_regex(column, pattern=NEUTRALISED, replacement=r"\1")
        if name in EMAIL_FIELDS:
            values = _emails(batch, header, column)
            filled = [bool(v) for v in pc.utf8_trim_whitespace(column).to_pylist()]
        else:
            cells = _texts(column)
            filled = [bool(c) for c in cells]
            parse = parsers.get(name)
            values = [c or None for c in cells] if parse is None else _parse_column(batch, header, cells, parse)
        if name in batch.values:  # two columns feed one field (Salesforce's LeadId and ContactId): first filled wins
            values = [a if a is not None else b for a, b in zip(batch.values[name], values, strict=True)]
            filled = [a or b for a, b in zip(present[name], filled, strict=True)]
        batch.values[name], present[name] = values, filled
    if plan.became:
        batch.became = _became(batch, raw, plan, parsers["changed_at"])
    _require(batch, present, required)
    return batch


def _became(batch: Batch, raw: RawBatch, plan: HeaderPlan, parse: Callable) -> list:
    dated: list[list[tuple[str, dt.datetime]]] = [[] for _ in range(batch.size)]
    for header, stage_name in plan.became.items():
        for index, when in enumerate(_parse_column(batch, header, _texts(raw.columns[header]), parse)):
            if when is not None:
                dated[index].append((stage_name, when))
    return dated


def _require(batch: Batch, present: dict[str, list[bool]], required: list[tuple[str, ...]]) -> None:
    for group in required:
        columns = [present[name] for name in group if name in present]
        header = next((batch.headers[name] for name in group if name in batch.headers), group[0])
        for index in range(batch.size):
            if not any(column[index] for column in columns):
                batch.errors.setdefault(index, []).append(
                    RowError(batch.record(index), header, "validation", "required value is missing")
                )
