"""numpy arrays → Arrow columns typed exactly like the store's tables."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import BigInteger, Boolean, Date, Integer, String, Text

from truce.store.models import Base
from truce.store.types import Money, Rate, UTCDateTime

TIMESTAMP = pa.timestamp("us", tz="UTC")
MONEY = pa.decimal128(18, 2)
RATE = pa.decimal128(7, 4)


def arrow_type(column) -> pa.DataType:
    kind = column.type
    for sql_type, arrow in (
        (Money, MONEY),
        (Rate, RATE),
        (UTCDateTime, TIMESTAMP),
        (Boolean, pa.bool_()),
        (Date, pa.date32()),
        (BigInteger, pa.int64()),
        (Integer, pa.int64()),
        (String, pa.string()),
        (Text, pa.string()),
    ):
        if isinstance(kind, sql_type):
            return arrow
    raise TypeError(f"no Arrow type for {column.table.name}.{column.name} ({kind!r})")


def store_table(name: str, columns: dict[str, pa.Array]) -> pa.Table:
    """The store table's columns, in its order; columns not given are all null."""
    store = Base.metadata.tables[name].columns
    unknown = set(columns) - {c.name for c in store}
    if unknown:
        raise KeyError(f"{name} has no columns {sorted(unknown)}")
    rows = len(columns["id"])
    arrays, fields = [], []
    for column in store:
        wanted = arrow_type(column)
        array = columns.get(column.name)
        array = pa.nulls(rows, wanted) if array is None else array
        if array.type != wanted:
            raise TypeError(f"{name}.{column.name} is {array.type}, the store wants {wanted}")
        if len(array) != rows:
            raise ValueError(f"{name}.{column.name} has {len(array)} rows, not {rows}")
        arrays.append(array)
        fields.append(pa.field(column.name, wanted, nullable=column.nullable))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def ids(count: int) -> pa.Array:
    return pa.array(np.arange(1, count + 1, dtype=np.int64))


def refs(index: np.ndarray) -> pa.Array:
    """0-based row indices → 1-based ids; -1 means no reference."""
    index = np.asarray(index, np.int64)
    return pa.array(index + 1, mask=index < 0)


def ints(values: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(values, np.int64), mask=mask)


def flags(values: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(values, bool))


def timestamps(seconds: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    return pa.array(np.asarray(seconds, np.int64) * 1_000_000, type=TIMESTAMP, mask=mask)


def dates(seconds: np.ndarray) -> pa.Array:
    return pa.array((np.asarray(seconds, np.int64) // 86_400).astype(np.int32)).cast(pa.date32())


def decimals(units: np.ndarray, kind: pa.DataType = MONEY, mask: np.ndarray | None = None) -> pa.Array:
    """Exact decimals from integer units of the last digit (cents for money, 1/10,000 for rates)."""
    units = np.asarray(units, np.int64)
    words = np.empty((units.size, 2), np.int64)
    words[:, 0], words[:, 1] = units, units >> 63  # 128-bit little-endian two's complement
    array = pa.Array.from_buffers(kind, units.size, [None, pa.py_buffer(words.tobytes())])
    if mask is not None and mask.any():
        array = pc.if_else(pa.array(mask), pa.nulls(units.size, kind), array)
    return array


def labels(names: Sequence[str | None], codes: np.ndarray) -> pa.Array:
    """Codes → their names; -1 is null."""
    codes = np.asarray(codes, np.int64)
    return pa.array(list(names), pa.string()).take(pa.array(codes, mask=codes < 0))


def texts(values: Sequence[str | None]) -> pa.Array:
    return pa.array(list(values), pa.string())


def numbered(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """'c-0000042' style keys."""
    digits = pc.utf8_lpad(pa.array(np.asarray(numbers, np.int64)).cast(pa.string()), width=width, padding="0")
    return pc.binary_join_element_wise(prefix, digits, "")


def joined(*parts) -> pa.Array:
    """Element-wise concatenation of string arrays and scalars."""
    return pc.binary_join_element_wise(*parts, "")


def constant(value: str, count: int) -> pa.Array:
    return pa.repeat(pa.scalar(value, pa.string()), count)


def width_for(count: int, minimum: int) -> int:
    return max(minimum, len(str(count)))
