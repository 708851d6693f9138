"""A long table of journeys from a CSV or Parquet file, checked, as a DuckDB view.

Columns (any order, others ignored): journey_id, timestamp, channel, converted, revenue.
Rows may come in any order. A journey converts if any of its rows says so; its revenue is
the largest `revenue` on its rows. Times are ISO 8601 (a date, or a date and time; a time
without an offset is UTC) or, in Parquet, timestamps. `converted` is true/false, 1/0 or
yes/no; an empty `revenue` is 0. Anything else is refused with the column and the first
bad line (CSV: the physical line, the header being line 1; Parquet: the row, from 1), and
nothing is computed.

The view `journey_rows` has: journey_id (BIGINT when every id is a whole number, else
VARCHAR), ts (BIGINT microseconds since 1970-01-01 UTC), channel (VARCHAR), converted
(BOOLEAN), revenue (DOUBLE).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

COLUMNS = ("journey_id", "timestamp", "channel", "converted", "revenue")
TRUE = ("true", "t", "1", "yes", "y")
FALSE = ("false", "f", "0", "no", "n", "")


class FileError(ValueError):
    """The file cannot be used; the message names the file, the column and the first bad line."""


def open_long_table(con, path: str | os.PathLike[str]) -> str:
    """Register the file's rows as the view `journey_rows` on a DuckDB Ibis connection; its name."""
    path = Path(path)
    if not path.exists():
        raise FileError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".parquet", ".pq"):
        _parquet(con, path)
    elif suffix in (".csv", ".txt", ".tsv"):
        con.con.register("journey_rows_arrow", _csv(path))
        con.raw_sql("CREATE OR REPLACE VIEW journey_rows AS SELECT * FROM journey_rows_arrow")
    else:
        raise FileError(f"{path}: not a CSV (.csv) or Parquet (.parquet) file")
    return "journey_rows"


# ---- CSV -------------------------------------------------------------------------------------


def _csv(path: Path) -> pa.Table:
    from truce.imports.csvfile import CsvFile, FileProblem

    try:
        source = CsvFile(path)
        batches = list(source.batches(1_000_000))
    except FileProblem as exc:
        raise FileError(str(exc) if str(path) in str(exc) else f"{path}: {exc}") from None
    if source.malformed:
        line, why, _ = source.malformed_lines()[0]
        raise FileError(f"{path}, line {line}: {why}")
    headers = {h.strip().lower(): h for h in source.header}
    _require(path, headers)
    if not batches or sum(b.size for b in batches) == 0:
        raise FileError(f"{path}: the file has a header but no rows: no journeys to attribute")
    parts = []
    for batch in batches:
        cells = {name: batch.columns[headers[name]] for name in COLUMNS}
        try:
            parts.append(_typed(cells))
        except _BadCell as bad:
            line = source.locate({batch.first_record + bad.index})[batch.first_record + bad.index]
            raise FileError(f"{path}, line {line}, column {bad.column}: {bad.message}") from None
    table = pa.concat_tables(parts)
    return _whole_ids(table)


class _BadCell(Exception):
    def __init__(self, column: str, index: int, message: str) -> None:
        super().__init__(message)
        self.column, self.index, self.message = column, index, message


def _typed(cells: dict[str, pa.Array]) -> pa.Table:
    """The batch's cells typed; raises the earliest bad cell of any column (then in column order)."""
    text = {name: pc.utf8_trim_whitespace(column) for name, column in cells.items()}
    bad: list[_BadCell] = []
    for name in ("journey_id", "timestamp", "channel"):
        empty = pc.fill_null(pc.equal(text[name], ""), True)
        if pc.any(empty).as_py():
            bad.append(_BadCell(name, _first(empty), f"a {name} is required"))
    typed = {}
    for name, convert in (("timestamp", _timestamps), ("converted", _booleans), ("revenue", _numbers)):
        try:
            typed[name] = convert(text[name])
        except _BadCell as cell:
            bad.append(cell)
    if bad:
        raise min(bad, key=lambda cell: (cell.index, COLUMNS.index(cell.column)))
    return pa.table(
        {
            "journey_id": text["journey_id"],
            "ts": typed["timestamp"],
            "channel": text["channel"],
            "converted": typed["converted"],
            "revenue": typed["revenue"],
        }
    )


def _first(mask: pa.Array) -> int:
    return pc.index(mask, True).as_py()


def _timestamps(text: pa.Array) -> pa.Array:
    parsed: list[int | None] = []
    # One vectorised cast for the common case; cell by cell only to find the bad one.
    try:
        return _to_micros(pc.cast(text, pa.timestamp("us", tz="UTC")))
    except pa.ArrowInvalid:
        pass
    for i, cell in enumerate(text.to_pylist()):
        if not cell:
            parsed.append(None)  # reported as missing by the required-cell check
            continue
        try:
            parsed.append(_one_time(cell))
        except ValueError:
            raise _BadCell(
                "timestamp", i, f"{cell!r} is not a time; write it as ISO 8601, e.g. 2026-03-01T09:30:00Z"
            ) from None
    return pa.array(parsed, pa.int64())


def _one_time(cell: str) -> int:
    import datetime as dt

    moment = dt.datetime.fromisoformat(cell.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    # Integer arithmetic: a float of seconds loses microseconds after 2038.
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)


def _to_micros(times: pa.Array) -> pa.Array:
    return pc.cast(pc.cast(times, pa.timestamp("us", tz="UTC")), pa.int64())


def _booleans(text: pa.Array) -> pa.Array:
    lowered = pc.utf8_lower(pc.fill_null(text, ""))
    yes = pc.is_in(lowered, pa.array(TRUE))
    no = pc.is_in(lowered, pa.array(FALSE))
    bad = pc.invert(pc.or_(yes, no))
    if pc.any(bad).as_py():
        i = _first(bad)
        raise _BadCell("converted", i, f"{text[i].as_py()!r} is not true or false (1/0, yes/no)")
    return yes


def _numbers(text: pa.Array) -> pa.Array:
    filled = pc.if_else(pc.equal(pc.fill_null(text, ""), ""), "0", text)
    try:
        numbers = pc.cast(filled, pa.float64())
    except pa.ArrowInvalid:
        for i, cell in enumerate(filled.to_pylist()):
            try:
                float(cell)
            except ValueError:
                raise _BadCell("revenue", i, f"{cell!r} is not a number") from None
        raise
    return _checked_revenue(numbers)


def _checked_revenue(numbers: pa.Array) -> pa.Array:
    bad = pc.or_(pc.less(numbers, 0), pc.invert(pc.is_finite(numbers)))
    bad = pc.fill_null(bad, False)
    if pc.any(bad).as_py():
        i = _first(bad)
        raise _BadCell("revenue", i, f"{numbers[i].as_py()!r}: revenue must be a finite number, 0 or more")
    return numbers


def _whole_ids(table: pa.Table) -> pa.Table:
    """journey_id as integers when every id is one, so the fast path can use them."""
    try:
        ids = pc.cast(table.column("journey_id"), pa.int64())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return table
    return table.set_column(0, "journey_id", ids)


def _require(path: Path, headers: dict) -> None:
    missing = [name for name in COLUMNS if name not in headers]
    if missing:
        found = ", ".join(headers.values()) or "none"
        raise FileError(
            f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(the file has: {found}; needed: {', '.join(COLUMNS)})"
        )


# ---- Parquet ---------------------------------------------------------------------------------


def _parquet(con, path: Path) -> None:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        rows = pq.read_metadata(path).num_rows
    except (pa.ArrowInvalid, OSError) as exc:
        raise FileError(f"{path}: not a readable Parquet file ({exc})") from None
    headers = {name.lower(): name for name in schema.names}
    _require(path, headers)
    if rows == 0:
        raise FileError(f"{path}: the file has no rows: no journeys to attribute")
    types = {name: schema.field(headers[name]).type for name in COLUMNS}
    source = f"read_parquet('{_quoted(path)}', file_row_number = true)"
    expressions = {
        "journey_id": _quoted_name(headers["journey_id"]),
        "ts": _parquet_time(headers["timestamp"], types["timestamp"]),
        "channel": f"CAST({_quoted_name(headers['channel'])} AS VARCHAR)",
        "converted": _parquet_bool(headers["converted"], types["converted"]),
        "revenue": f"COALESCE(TRY_CAST({_revenue_text(headers, types)} AS DOUBLE), 0)",
    }
    ranges = _parquet_problems(con, path, source, headers, types)
    whole = pa.types.is_integer(types["journey_id"])
    ids = expressions["journey_id"] if whole else f"CAST({expressions['journey_id']} AS VARCHAR)"
    con.raw_sql(
        "CREATE OR REPLACE VIEW journey_rows AS SELECT "
        f"{ids} AS journey_id, {expressions['ts']} AS ts, {expressions['channel']} AS channel, "
        f"{expressions['converted']} AS converted, {expressions['revenue']} AS revenue FROM {source}"
    )
    # The checking scan also measured the ranges the fast path packs its keys with
    # (truce.services.attribution_file); they are kept with the text of the view they describe.
    fields = ", ".join(
        f"'{name}': {'NULL' if value is None else str(value).lower()}"
        for name, value in zip(("lo_j", "hi_j", "lo_t", "hi_t", "millis", "seconds", "n"), ranges, strict=True)
    )
    con.raw_sql(
        f"SET VARIABLE journey_rows_ranges = (SELECT {{{fields}, 'view_sql': sql}} "
        "FROM duckdb_views() WHERE view_name = 'journey_rows')"
    )


def _parquet_time(name: str, kind: pa.DataType) -> str:
    column = _quoted_name(name)
    if pa.types.is_timestamp(kind):
        return f"epoch_us({column})" if kind.tz else f"epoch_us({column} AT TIME ZONE 'UTC')"
    if pa.types.is_date(kind):
        return f"epoch_us(CAST({column} AS TIMESTAMP) AT TIME ZONE 'UTC')"
    return f"epoch_us(TRY_CAST(replace({column}, 'Z', '+00:00') AS TIMESTAMPTZ))"


def _parquet_bool(name: str, kind: pa.DataType) -> str:
    column = _quoted_name(name)
    if pa.types.is_boolean(kind):
        return f"COALESCE({column}, false)"
    if pa.types.is_integer(kind):
        return f"COALESCE({column} <> 0, false)"
    listed = ", ".join(f"'{v}'" for v in TRUE)
    return f"COALESCE(lower(trim(CAST({column} AS VARCHAR))) IN ({listed}), false)"


def _parquet_problems(con, path: Path, source: str, headers: dict, types: dict) -> tuple:
    """The first bad row of each kind, found by the engine; raises for the earliest.

    Otherwise the ranges found in the same scan: the smallest and largest journey_id (None
    unless the ids are integers) and time (µs), whether every time is a whole millisecond,
    a whole second, and the number of rows.
    """
    col = {name: _quoted_name(headers[name]) for name in COLUMNS}
    channel = f"CAST({col['channel']} AS VARCHAR)"
    checks = [
        ("journey_id", f"{col['journey_id']} IS NULL", "a journey_id is required"),
        (
            "channel",
            # Only a text that starts with a space (or below), or past ASCII, can trim to
            # nothing (trim takes spaces and Unicode spaces): asking that first spares
            # trimming every row.
            f"{col['channel']} IS NULL OR (({channel} < '!' OR {channel} >= chr(128)) AND trim({channel}) = '')",
            "a channel is required",
        ),
        ("timestamp", "__truce_ts IS NULL", "is not a time (ISO 8601)"),
        (
            "revenue",
            f"{_revenue_text(headers, types)} IS NOT NULL AND (TRY_CAST({_revenue_text(headers, types)} AS DOUBLE) IS NULL "
            f"OR TRY_CAST({col['revenue']} AS DOUBLE) < 0 OR NOT isfinite(TRY_CAST({col['revenue']} AS DOUBLE)))",
            "is not a number, 0 or more",
        ),
    ]
    if not (pa.types.is_boolean(types["converted"]) or pa.types.is_integer(types["converted"])):
        allowed = ", ".join(f"'{v}'" for v in TRUE + FALSE)
        checks.append(
            (
                "converted",
                f"{col['converted']} IS NOT NULL AND lower(trim(CAST({col['converted']} AS VARCHAR))) NOT IN ({allowed})",
                "is not true or false (1/0, yes/no)",
            )
        )
    selects = ", ".join(f"min(CASE WHEN {cond} THEN file_row_number END) AS {name}" for name, cond, _ in checks)
    ids = col["journey_id"] if pa.types.is_integer(types["journey_id"]) else "NULL"
    # The time once per row. Whole seconds when no remainder has a bit set; only when they
    # are not does a second scan ask about milliseconds (one remainder per row costs less).
    times = f"(SELECT *, {_parquet_time(headers['timestamp'], types['timestamp'])} AS __truce_ts FROM {source})"
    found = con.raw_sql(
        f"SELECT {selects}, min({ids}), max({ids}), min(__truce_ts), max(__truce_ts), "
        f"bit_or(__truce_ts % 1000000) = 0, count(*) FROM {times}"
    ).fetchall()[0]
    found, (lo_j, hi_j, lo_t, hi_t, seconds, rows) = found[: len(checks)], found[len(checks) :]
    bad = [(row, name, why) for (name, _, why), row in zip(checks, found, strict=True) if row is not None]
    if not bad:
        millis = seconds or con.raw_sql(f"SELECT bit_or(__truce_ts % 1000) = 0 FROM {times}").fetchall()[0][0]
        return lo_j, hi_j, lo_t, hi_t, millis, seconds, rows
    row, name, why = min(bad)
    value = con.raw_sql(f"SELECT CAST({col[name]} AS VARCHAR) FROM {source} WHERE file_row_number = {row}").fetchall()[
        0
    ]
    shown = "" if value is None or value[0] is None or value[0].strip() == "" else f"{value[0]!r} "
    raise FileError(f"{path}, row {row + 1}, column {name}: {shown}{why}")


def _revenue_text(headers: dict, types: dict) -> str:
    """The revenue column, blank text read as missing; a float64 or integer column as it is.

    A number column has no blank to find, and turning every number into text and back (the
    same double again: the text is the shortest that reads back exactly) costs more than the
    rest of the check.
    """
    kind = types["revenue"]
    if pa.types.is_float64(kind) or pa.types.is_integer(kind):
        return _quoted_name(headers["revenue"])
    return _blank_is_null(headers["revenue"])


def _blank_is_null(name: str) -> str:
    """The column with blank text read as missing (an empty revenue is 0, as in CSV)."""
    return f"NULLIF(trim(CAST({_quoted_name(name)} AS VARCHAR)), '')"


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def _quoted_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


# ---- Parquet read by Spark itself -------------------------------------------------------------


def spark_journey_rows(con, path: str | os.PathLike[str], name: str = "truce_journey_rows"):
    """The file's rows as a view on a Spark connection with `journey_rows`' columns, read by
    Spark's executors from the file itself: no row passes through this Python process, so its
    memory does not grow with the file. None for a file whose columns do not all have their
    natural types (see _natural_types): the caller hands that one over from DuckDB instead.
    Run `open_long_table` first: its checks name a bad row; this view trusts them."""
    import pyarrow.parquet as pq

    from truce.analytics.spark import _session_of

    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".pq"):
        return None
    schema = pq.read_schema(path)
    headers = {header.lower(): header for header in schema.names}
    kinds = {column: schema.field(headers[column]).type for column in COLUMNS}
    if not _natural_types(kinds):
        return None
    col = {column: "`" + headers[column].replace("`", "``") + "`" for column in COLUMNS}
    # The session's time zone is UTC (truce.analytics.spark): a time without a zone is read as
    # UTC, as DuckDB's view reads it.
    ts = f"unix_micros(CAST({col['timestamp']} AS TIMESTAMP))"
    converted = f"COALESCE({col['converted']}, false)"
    if pa.types.is_integer(kinds["converted"]):
        converted = f"COALESCE({col['converted']} <> 0, false)"
    session = _session_of(con)
    session.read.parquet(str(path)).createOrReplaceTempView(f"{name}_file")
    session.sql(
        f"SELECT CAST({col['journey_id']} AS BIGINT) AS journey_id, {ts} AS ts, "
        f"CAST({col['channel']} AS STRING) AS channel, {converted} AS converted, "
        f"COALESCE(CAST({col['revenue']} AS DOUBLE), 0D) AS revenue FROM {name}_file"
    ).createOrReplaceTempView(name)
    return con.table(name)


# ---- Parquet read column by column, for the compiled passes ---------------------------------------
#
# A Parquet file whose columns have their natural types (integer journey ids, timestamps in
# s/ms/µs, text channels, boolean or integer `converted`, float64 or integer revenue) is read
# row group by row group straight into numpy and handed to the compiled passes of
# truce.analytics.kernels: no DuckDB view, no packed keys, no sort of every touch. Anything this
# reader is not sure of (another type, a null where a value is required, a blank channel, a bad
# revenue, journey ids too sparse to count by) makes it answer None, and the checked route above
# reads the file instead: it either computes the same result or names the bad row.

MAX_ROWS_PER_READ = 1 << 22  # a bigger row group is read in batches of 2^20 rows
READ_AHEAD = 2  # parts of one column read at once while the caller works on one
UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1}


@dataclass(frozen=True)
class ParquetColumns:
    """A Parquet journeys file that the compiled passes can read; see parquet_columns()."""

    path: Path
    names: dict[str, str]  # journey_id, timestamp, channel, converted, revenue → the file's names
    first_id: int
    last_id: int
    rows: int
    per_unit: int  # microseconds per step of the file's timestamps
    times_vouched_for: bool  # the footer says no time is missing or out of range

    @property
    def span(self) -> int:
        return self.last_id - self.first_id + 1


@dataclass
class Batch:
    """One batch of rows as numpy arrays; `codes` index `dictionary` (the batch's own names)."""

    ids: np.ndarray
    times: np.ndarray | None
    codes: np.ndarray | None
    dictionary: list[str] | None
    converted: np.ndarray | None
    revenue: np.ndarray | None


class Unsure(Exception):
    """The compiled reader cannot vouch for this file; the checked route reads it."""


def parquet_columns(path: str | os.PathLike[str]) -> ParquetColumns | None:
    """The file, if its columns can be read as they are (else None: use open_long_table)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.suffix.lower() not in (".parquet", ".pq") or not path.is_file():
        return None
    try:
        meta = pq.read_metadata(path)
        schema = meta.schema.to_arrow_schema()
    except (pa.ArrowException, OSError):
        return None
    headers = {name.lower(): name for name in schema.names}
    if any(name not in headers for name in COLUMNS) or meta.num_rows == 0:
        return None
    names = {name: headers[name] for name in COLUMNS}
    kinds = {name: schema.field(names[name]).type for name in COLUMNS}
    if not _natural_types(kinds):
        return None
    bounds = _id_bounds(meta, schema.get_field_index(names["journey_id"]))
    if bounds is None:
        return None
    first, last = bounds
    # Counting by id needs a slot per id in the range: refuse ranges much wider than the rows.
    if last - first + 1 > meta.num_rows + (1 << 20) or last > np.iinfo(np.int64).max:
        return None
    per_unit = UNITS[kinds["timestamp"].unit]
    times = _times_vouched_for(meta, schema.get_field_index(names["timestamp"]), per_unit)
    return ParquetColumns(path, names, first, last, meta.num_rows, per_unit, times)


def _natural_types(kinds: dict[str, pa.DataType]) -> bool:
    channel = kinds["channel"]
    if pa.types.is_dictionary(channel):
        channel = channel.value_type
    revenue = kinds["revenue"]
    return (
        pa.types.is_integer(kinds["journey_id"])
        and pa.types.is_timestamp(kinds["timestamp"])
        and kinds["timestamp"].unit in UNITS
        and (pa.types.is_string(channel) or pa.types.is_large_string(channel))
        and (pa.types.is_boolean(kinds["converted"]) or pa.types.is_integer(kinds["converted"]))
        # float32 and decimals are read by the checked route through text, which rounds them
        # differently: they go there.
        and (pa.types.is_float64(revenue) or pa.types.is_integer(revenue))
    )


def _id_bounds(meta, column: int) -> tuple[int, int] | None:
    """The smallest and largest journey id from the footer's statistics (checked while counting)."""
    lows, highs = [], []
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if stats is None or not stats.has_min_max:
            return None
        lows.append(int(stats.min))
        highs.append(int(stats.max))
    return min(lows), max(highs)


def _times_vouched_for(meta, column: int, per_unit: int) -> bool:
    """Whether the footer says every time is there and readable (a pass that reads no time trusts it)."""
    limit = (1 << 62) // per_unit
    for group in range(meta.num_row_groups):
        stats = meta.row_group(group).column(column).statistics
        if stats is None or not stats.has_null_count or stats.null_count or not stats.has_min_max:
            return False
        if not -limit <= stats.min_raw <= stats.max_raw <= limit:
            return False
    return True


def read_batches(source: ParquetColumns, wanted: tuple[str, ...], ids: JourneyIds | None = None):
    """The file's rows in batches of numpy columns (only `wanted` ones besides journey_id).

    `ids`: a JourneyIds. The first pass given it fills it; a later pass over the same file takes
    the journey ids from it instead of decoding them again (they cost as much to decode as the
    other four columns together). Raises Unsure at a null where a value is required, and
    when the file no longer has the rows the earlier pass read.
    """
    import itertools
    import threading
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    import pyarrow.parquet as pq

    names = ("journey_id", *wanted) if ids is None or not ids.kept else wanted
    columns = [source.names[name] for name in names]
    reader = pq.ParquetFile(source.path, read_dictionary=[source.names["channel"]])
    if ids is not None and ids.kept and reader.metadata.num_rows != ids.rows:
        raise Unsure("the file changed while it was read")
    groups = range(reader.num_row_groups)
    if max((reader.metadata.row_group(g).num_rows for g in groups), default=0) <= MAX_ROWS_PER_READ:
        # A ParquetFile is not to be read by two threads at once: each reading thread opens its own.
        own = threading.local()

        def group(g: int) -> list[pa.RecordBatch]:
            if not hasattr(own, "reader"):
                own.reader = pq.ParquetFile(source.path, read_dictionary=[source.names["channel"]])
            if own.reader.metadata.num_rows != reader.metadata.num_rows:
                raise Unsure("the file changed while it was read")
            return own.reader.read_row_group(g, columns=columns).to_batches()

        parts = iter([lambda g=g: group(g) for g in groups])
    else:
        # Big row groups: batches of 2^20 rows, each read when asked for (no reading ahead).
        batches = reader.iter_batches(batch_size=1 << 20, columns=columns)
        parts = ((lambda batch=batch: [batch]) for batch in batches)
    # The next part is read (Arrow decodes without the GIL) while the caller's compiled pass
    # works on this one: on two cores the reading mostly hides behind the passes. The ids alone
    # are one column, which one thread decodes, and counting them is quick: two parts are read
    # at once then, so that the second core is not idle. With more columns Arrow decodes them on
    # several threads already, and a second part would only take the core the caller's pass uses.
    reading = READ_AHEAD if len(columns) == 1 else 1
    with ThreadPoolExecutor(max_workers=reading) as ahead:
        coming = deque(ahead.submit(read) for read in itertools.islice(parts, reading))
        while coming:
            done = coming.popleft().result()
            for read in itertools.islice(parts, 1):
                coming.append(ahead.submit(read))
            for batch in done:
                yield _numpy_batch(batch, wanted, ids)
    if ids is not None:
        ids.done()


class JourneyIds:
    """The journey id column of a file, kept by one pass (`add`, then `done`) for the next to reuse.

    The ids stay as the Arrow buffers they were decoded into (8 bytes a row); the next pass takes
    them in order, whatever its batches' lengths.
    """

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.rows = 0
        self.kept = False
        self._at = (0, 0)  # (part, offset) where the next batch's ids begin

    def add(self, ids: np.ndarray) -> None:
        self.parts.append(ids)
        self.rows += len(ids)

    def take(self, count: int) -> np.ndarray:
        part, offset = self._at
        pieces = []
        while count:
            if part >= len(self.parts):
                raise Unsure("the file changed while it was read")
            piece = self.parts[part][offset : offset + count]
            pieces.append(piece)
            count -= len(piece)
            offset += len(piece)
            if offset == len(self.parts[part]):
                part, offset = part + 1, 0
        self._at = (part, offset)
        return pieces[0] if len(pieces) == 1 else np.concatenate(pieces)

    def done(self) -> None:
        """End of a pass: the first one's ids are now kept; a later one must have used them all."""
        if self.kept and self._at != (len(self.parts), 0):
            raise Unsure("the file changed while it was read")
        self.kept, self._at = True, (0, 0)


def _numpy_batch(batch: pa.RecordBatch, wanted: tuple[str, ...], ids: JourneyIds | None = None) -> Batch:
    if ids is not None and ids.kept:
        found = Batch(ids.take(batch.num_rows), None, None, None, None, None)
        first = 0
    else:
        column = batch.column(0)
        if column.null_count:
            raise Unsure("a journey_id is missing")
        found = Batch(column.to_numpy().astype(np.int64, copy=False), None, None, None, None, None)
        if ids is not None:
            ids.add(found.ids)
        first = 1
    for at, name in enumerate(wanted, start=first):
        column = batch.column(at)
        if name == "timestamp":
            if column.null_count:
                raise Unsure("a timestamp is missing")
            found.times = column.view(pa.int64()).to_numpy()
        elif name == "channel":
            if column.null_count or column.indices.null_count:
                raise Unsure("a channel is missing")
            found.codes = column.indices.to_numpy()
            found.dictionary = column.dictionary.to_pylist()
        elif name == "converted":
            found.converted = _flags(column)
        elif name == "revenue":
            if column.null_count:
                column = pc.fill_null(column, 0)  # an empty revenue is 0, as in the checked route
            found.revenue = column.to_numpy().astype(np.float64, copy=False)
    return found


def _flags(column: pa.Array) -> np.ndarray:
    if not pa.types.is_boolean(column.type):
        column = pc.not_equal(column, 0)
    if column.null_count:
        column = pc.fill_null(column, False)
    return column.to_numpy(zero_copy_only=False)


def blank_channels(names: list[str]) -> bool:
    """Whether DuckDB's check (the checked route's) would call any of these names blank."""
    suspects = [name for name in names if name < "!" or name >= chr(128)]
    if not suspects:
        return False
    import duckdb

    con = duckdb.connect()
    try:
        found = con.execute("SELECT bool_or(trim(name) = '') FROM unnest(?::VARCHAR[]) AS t(name)", [suspects])
        return bool(found.fetchall()[0][0])
    finally:
        con.close()
