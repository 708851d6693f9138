"""`truce attribution --from-file`: attribution over a long table of journeys, without the store.

The file is read by DuckDB (checked first: truce.analytics.longfile). Two paths give the
same answer: the portable one runs the Ibis expressions (on DuckDB, or on Spark with
engine="spark"); the embedded fast path packs journey, time, channel and outcome into one
64-bit integer per touch inside DuckDB, sorts those in numpy and computes the aggregates
over flat arrays (truce.domain.attribution.kernel). The fast path is taken when the journey
ids are whole numbers and the packed key fits in 63 bits; `fast=False` forces the portable
path (the tests compare the two).

The result, exactly the shape other tools read:

    {"model": M, "total_conversions": x, "total_revenue": y,
     "channels": [{"channel": c, "conversions": x_c, "revenue": y_c, "share": s_c}, ...]}

share is the channel's share of the converted total (conversions). Every channel in the file
is listed, most credited first.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from truce.domain.attribution import FILE_MODELS, Credit, fit_to_total
from truce.domain.attribution.registry import MILESTONE_MODELS
from truce.services.attribution_runner import ModelError, Settings, markov_credit, run_model, shapley_credit


@dataclass
class FileResult:
    report: dict
    notes: list[str] = field(default_factory=list)
    path_taken: str = "fast"


def file_report(
    path: str | os.PathLike[str],
    model: str,
    settings: Settings = Settings(),
    *,
    engine: str = "duckdb",
    fast: bool | None = None,
) -> FileResult:
    if model in MILESTONE_MODELS:
        raise ModelError(
            f"{model} credits the lead- and opportunity-creation touches, which a journeys file does not record; "
            f"choose one of {', '.join(FILE_MODELS)}, or run it on the store"
        )
    if model not in FILE_MODELS:
        raise ModelError(f"unknown model {model!r} for a journeys file; choose one of {', '.join(FILE_MODELS)}")
    if engine not in ("duckdb", "spark"):
        raise ModelError(f"unknown engine {engine!r}; choose duckdb or spark")
    if engine == "duckdb" and fast is not False:
        credit = _columnar(path, model, settings)
        if credit is not None:
            return FileResult(_contract(model, credit), credit.notes, "fast")
    # Imported only here: Ibis and its backend cost more to import than a small file to read.
    from truce.analytics.longfile import open_long_table
    from truce.analytics.sources import duckdb_connection

    con = duckdb_connection()
    try:
        if engine == "spark":
            # DuckDB only checks the file here, and its buffer pool would otherwise keep what it
            # read (up to most of the machine's memory): the driver's memory must not grow with
            # the file when Spark does the work.
            con.raw_sql(f"SET memory_limit = '{max(64, 32 * (os.cpu_count() or 1))}MB'")
        view = open_long_table(con, path)
        channels = [r[0] for r in con.raw_sql(f"SELECT DISTINCT channel FROM {view} ORDER BY 1").fetchall()]
        packing = _packing(con, view, len(channels)) if engine == "duckdb" and fast is not False else None
        if packing is not None:
            touches = _sorted_touches(con, view, channels, packing, times=model == "time_decay")
            credit, taken = _fast(touches, channels, model, settings), "fast"
        else:
            credit, taken = _portable(con, view, channels, model, settings, engine, path), "portable"
    finally:
        con.disconnect()
    return FileResult(_contract(model, credit), credit.notes, taken)


def _contract(model: str, credit: Credit) -> dict:
    rows: list[dict[str, Any]] = []
    for i, channel in enumerate(credit.labels):
        conversions, revenue = float(credit.conversions[i]), float(credit.revenue[i])
        share = conversions / credit.total_conversions if credit.total_conversions else 0.0
        rows.append({"channel": channel, "conversions": conversions, "revenue": revenue, "share": share})
    rows.sort(key=lambda r: (-r["conversions"], -r["revenue"], r["channel"]))
    return {
        "model": model,
        "total_conversions": credit.total_conversions,
        "total_revenue": credit.total_revenue,
        "channels": rows,
    }


# ---- the portable path: Ibis on DuckDB or Spark ------------------------------------------------


def _portable(con, view: str, channels: list[str], model: str, settings: Settings, engine: str, path) -> Credit:
    import ibis
    import pyarrow as pa

    # One thread: floats are added in the same order every run (the fast path sums in numpy).
    con.raw_sql("SET threads = 1")
    rows = con.table(view)
    codes = con.create_table(
        "truce_channel_codes",
        pa.table({"channel": pa.array(channels, pa.string()), "key": pa.array(range(len(channels)), pa.int64())}),
        overwrite=True,
    )
    if engine == "spark":
        from truce.analytics.longfile import spark_journey_rows
        from truce.analytics.spark import hand_over, spark_connection

        spark = spark_connection()
        # Spark reads a Parquet file itself (the check above has read it on DuckDB, in a scan that
        # keeps no rows); a CSV, or a Parquet file of other types, is handed over from DuckDB.
        on_spark = spark_journey_rows(spark, path)
        rows = on_spark if on_spark is not None else hand_over(spark, "truce_journey_rows", rows.to_pyarrow())
        codes = hand_over(spark, "truce_channel_codes", codes.to_pyarrow())
    if rows.journey_id.type().is_integer():
        journey = rows.journey_id.cast("int64")
    else:
        journey = ibis.dense_rank().over(ibis.window(order_by=rows.journey_id)).cast("int64")
    rows = rows.mutate(journey=journey)
    per = rows.group_by("journey").aggregate(
        converted=rows.converted.any(), best=rows.revenue.max(), conv_ts=rows.ts.max()
    )
    per = per.mutate(revenue=ibis.ifelse(per.converted, per.best, 0.0)).drop("best")
    touches = rows.select("journey", "ts", "channel").join(per, "journey").join(codes, "channel")
    from truce.analytics.spark import kept, let_go

    touches = kept(touches.select("journey", "ts", "key", "converted", "revenue", "conv_ts"))
    try:
        return run_model(touches, channels, model, settings)
    finally:
        let_go(touches)  # kept: Ibis's cache fails on Spark Connect, where it is left uncached


# ---- the fast path -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Packing:
    first_journey: int
    first_ts: int
    ts_bits: int
    key_bits: int
    unit: int  # microseconds per step of the packed time: 1, 1,000 or 1,000,000
    rows: int = 0  # touches in the file


def _packing(con, view: str, n_channels: int) -> _Packing | None:
    kind = con.raw_sql(f"SELECT typeof(journey_id) FROM {view} LIMIT 1").fetchall()[0][0]
    if kind not in ("BIGINT", "INTEGER", "SMALLINT", "TINYINT", "UBIGINT", "UINTEGER", "USMALLINT", "UTINYINT"):
        return None
    # A Parquet file's ranges come from the scan that checked it (truce.analytics.longfile
    # keeps them with the text of the view they describe); anything else is scanned here.
    known = con.raw_sql(
        "SELECT r.lo_j, r.hi_j, r.lo_t, r.hi_t, r.millis, r.seconds, r.n "
        "FROM (SELECT getvariable('journey_rows_ranges') AS r) "
        f"JOIN duckdb_views() v ON v.view_name = '{view}' AND v.sql = r.view_sql"
    ).fetchall()
    lo_j, hi_j, lo_t, hi_t, millis, seconds, rows = (
        known[0]
        if known
        else con.raw_sql(
            "SELECT min(journey_id), max(journey_id), min(ts), max(ts), "
            f"bool_and(ts % 1000 = 0), bool_and(ts % 1000000 = 0), count(*) FROM {view}"
        ).fetchall()[0]
    )
    key_bits = max(1, (n_channels - 1).bit_length())
    # Times in the coarsest unit that loses nothing: most exports carry whole seconds.
    unit = 1_000_000 if seconds else 1_000 if millis else 1
    ts_bits = max(1, int((hi_t - lo_t) // unit).bit_length())
    if int(hi_j - lo_j).bit_length() + ts_bits + key_bits + 1 > 63 or n_channels > 4096:
        return None
    return _Packing(int(lo_j), int(lo_t), ts_bits, key_bits, unit, int(rows))


def _fast(touches, channels: list[str], model: str, settings: Settings, coalitions: dict | None = None) -> Credit:
    """Credit from touches in journey order (for Shapley, the coalitions table may come instead)."""
    from truce.domain.attribution import kernel

    n = len(channels)
    converted = touches.converted
    credit = Credit(
        list(channels),
        np.zeros(n),
        np.zeros(n),
        float(converted.sum()),
        float(touches.revenue[converted].sum()),
        touches.journeys,
    )
    if credit.total_conversions == 0:
        credit.notes.append("No journey converted: nothing to credit.")
        return credit
    if model == "markov":
        _markov(credit, _transitions(touches, settings.markov_order, n), settings)
    elif model == "shapley":
        import pyarrow as pa

        table = pa.table(coalitions if coalitions is not None else kernel.coalitions(touches))
        result = shapley_credit(table, n, settings)
        credit.conversions, credit.revenue = result.conversions, result.revenue
        if result.sampled_coalitions:
            credit.stderr_conversions, credit.stderr_revenue = result.stderr_conversions, result.stderr_revenue
    else:
        credit.conversions, credit.revenue = kernel.heuristic(touches, model, n, settings.half_life_days)
    credit.conversions = fit_to_total(credit.conversions, credit.total_conversions)
    credit.revenue = fit_to_total(credit.revenue, credit.total_revenue)
    return credit


def _markov(credit: Credit, transitions: dict[str, np.ndarray], settings: Settings) -> None:
    import pyarrow as pa

    n = len(credit.labels)
    result = markov_credit(
        pa.table(transitions), n, settings.markov_order, credit.total_conversions, credit.total_revenue
    )
    credit.conversions, credit.revenue = result.conversions, result.revenue


def _first_order_markov(source, settings: Settings) -> Credit | None:
    """Order-1 Markov from the file's columns, counted as the blocks are ordered (no journey
    table is built); None when `_first_order_transitions` cannot count by block. The credit
    is `_fast`'s on `_ordered_touches`, to the bit: the same counts, sums and totals."""
    found = _first_order_transitions(source)
    if found is None:
        return None
    channels, table, journeys, revenue = found
    n = len(channels)
    credit = Credit(list(channels), np.zeros(n), np.zeros(n), float(len(revenue)), float(revenue.sum()), journeys)
    if credit.total_conversions == 0:
        credit.notes.append("No journey converted: nothing to credit.")
        return credit
    _markov(credit, table, settings)
    credit.conversions = fit_to_total(credit.conversions, credit.total_conversions)
    credit.revenue = fit_to_total(credit.revenue, credit.total_revenue)
    return credit


def _transitions(touches, order: int, n_keys: int) -> dict[str, np.ndarray]:
    """The transitions table; order 1 in one compiled pass (kernel._first_order's table, bit for bit)."""
    from truce.domain.attribution import kernel

    width = n_keys + 4
    if order != 1 or width * width > 1 << 22:
        return kernel.transitions(touches, order, n_keys)
    from truce.analytics import kernels

    counts, values = np.zeros(width * width, dtype=np.int64), np.zeros(width * width)
    kernels.first_order_counts(touches.key, touches.start, touches.converted, touches.revenue, width, counts, values)
    seen = np.flatnonzero(counts)
    return {"src": seen // width - 3, "dst": seen % width - 3, "count": counts[seen], "value": values[seen]}


# ---- the fast path from a Parquet file's columns (compiled passes) -----------------------------


def _columnar(path, model: str, settings: Settings) -> Credit | None:
    """Credit from the file's columns read as they are, or None when the checked route must read it."""
    from truce.analytics import longfile

    source = longfile.parquet_columns(path)
    if source is None:
        return None
    try:
        if model == "shapley":
            channels, touches, coalitions = _journey_sets(source)
            return _fast(touches, channels, model, settings, coalitions)
        if model == "markov" and settings.markov_order == 1:
            credit = _first_order_markov(source, settings)
            if credit is not None:
                return credit
        channels, touches = _ordered_touches(source, times=model == "time_decay")
    except longfile.Unsure:
        return None
    return _fast(touches, channels, model, settings)


class _Channels:
    """Channel names met batch by batch, each given a code when first met; sorted at the end.

    `used` is marked by the compiled pass: a batch's dictionary may hold names no row uses.
    """

    def __init__(self, limit: int) -> None:
        self.codes: dict[str, int] = {}
        self.used = np.zeros(limit + 1, dtype=bool)
        self.limit = limit

    def codes_of(self, batch) -> np.ndarray:
        from truce.analytics.longfile import Unsure

        found = np.array([self.codes.setdefault(name, len(self.codes)) for name in batch.dictionary], dtype=np.int64)
        if len(self.codes) > self.limit:
            raise Unsure("too many channels for the compiled passes")
        return found

    def sorted(self) -> tuple[list[str], np.ndarray]:
        """The used names in order, and each code's rank among them."""
        from truce.analytics.longfile import Unsure, blank_channels

        names = sorted(name for name, code in self.codes.items() if self.used[code])
        if blank_channels(names):
            raise Unsure("a blank channel")
        rank = np.zeros(max(len(self.codes), 1), dtype=np.int64)
        for i, name in enumerate(names):
            rank[self.codes[name]] = i
        return names, rank


BLOCK_BITS = 15  # journeys are ordered in blocks of 2^15 ids: a block's counters stay in cache


def _ordered_touches(source, times: bool):
    """The file's touches in journey order, each journey's by time (as the packed keys sort)."""
    from truce.analytics import kernels
    from truce.domain.attribution.kernel import SortedTouches

    placed = _placed(source)
    start = np.empty(min(source.span, len(placed.pool_time)) + 1, dtype=np.int64)
    ends = np.empty(len(placed.sizes) << placed.shift, dtype=np.int64)
    kernels.order_blocks(placed.bounds, placed.shift, placed.pool_time, placed.pool_slot, placed.rank, ends)
    kept = kernels.keep_journeys(placed.bounds, placed.shift, ends, placed.won, placed.paid, start)
    del ends
    pool_time = placed.pool_time if times else None
    touches = SortedTouches(placed.pool_slot, pool_time, start[: kept + 1], placed.won[:kept], placed.paid[:kept])
    return placed.names, touches


# Markov's cells per block of journeys, counted apart so both cores can count: past this many in
# all, the touches are ordered first and counted in one pass (_ordered_touches, _transitions).
MAX_BLOCK_CELLS = 1 << 24


def _first_order_transitions(source):
    """(channels, the order-1 transitions table, journeys, conversions, their revenue in journey
    order), counted while each block of journeys is ordered — the table `_transitions` makes from
    `_ordered_touches`, to the bit — or None when there are too many channels to count by block."""
    from truce.analytics import kernels

    placed = _placed(source)
    width = len(placed.names) + 4
    blocks = len(placed.sizes)
    if blocks * width * width > MAX_BLOCK_CELLS:
        return None
    block_counts = np.zeros((blocks, width * width), dtype=np.int64)
    ends, last = np.empty(blocks << placed.shift, dtype=np.int64), np.empty(blocks << placed.shift, dtype=np.int32)
    kernels.order_and_count_blocks(
        placed.bounds, placed.shift, placed.pool_time, placed.pool_slot, placed.rank, ends,
        placed.won, width, block_counts, last,
    )  # fmt: skip
    del ends
    del placed.pool_time
    counts, values = block_counts.sum(axis=0), np.zeros(width * width)
    revenue = np.empty(int(placed.won.sum()))
    journeys, converted = kernels.add_revenue(last, placed.won, placed.paid, values, revenue)
    seen = np.flatnonzero(counts)
    table = {"src": seen // width - 3, "dst": seen % width - 3, "count": counts[seen], "value": values[seen]}
    return placed.names, table, journeys, revenue[:converted]


@dataclass
class _Placed:
    """Every touch placed in its block of journey ids (not yet ordered inside the block)."""

    names: list[str]  # the channels, sorted
    rank: np.ndarray  # int32: a channel code's place among `names`
    shift: int
    sizes: np.ndarray  # touches per block
    bounds: np.ndarray  # where each block begins, and the end
    pool_time: np.ndarray
    pool_slot: np.ndarray
    won: np.ndarray  # per journey id
    paid: np.ndarray


def _placed(source) -> _Placed:
    """Two passes over the file: touches counted per block of ids, then placed in their block."""
    from truce.analytics import kernels
    from truce.analytics.longfile import JourneyIds, Unsure, read_batches

    shift = BLOCK_BITS
    sizes = np.zeros((source.span >> shift) + 1, dtype=np.int64)
    ids = JourneyIds()  # the counting pass decodes the ids; the placing pass reuses them
    for batch in read_batches(source, (), ids):
        if kernels.count_by_block(batch.ids, source.first_id, shift, sizes) != kernels.OK:
            raise Unsure("a journey_id outside the footer's range")
    bounds = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(sizes, out=bounds[1:])
    fill = bounds[:-1].copy()
    pool_time, pool_slot = np.empty(int(bounds[-1]), dtype=np.int64), np.empty(int(bounds[-1]), dtype=np.int32)
    won, paid = np.zeros(source.span, dtype=bool), np.zeros(source.span)
    channels = _Channels(limit=4096)  # as many as the packed-key route takes
    for batch in read_batches(source, ("timestamp", "channel", "converted", "revenue"), ids):
        code_of = channels.codes_of(batch)
        status = kernels.place_touches(
            batch.ids, source.first_id, shift, batch.times, source.per_unit, batch.codes, code_of,
            batch.converted, batch.revenue, fill, pool_time, pool_slot, won, paid, channels.used,
        )  # fmt: skip
        if status != kernels.OK:
            raise Unsure(f"the compiled pass stopped ({status})")
    if not np.array_equal(fill, bounds[1:]):
        raise Unsure("the file changed while it was read")
    del ids
    names, rank = channels.sorted()
    return _Placed(names, rank.astype(np.int32), shift, sizes, bounds, pool_time, pool_slot, won, paid)


def _journey_sets(source):
    """Channels, per-journey outcome and revenue (as SortedTouches without touches), coalitions."""
    from truce.analytics import kernels
    from truce.analytics.longfile import Unsure, read_batches
    from truce.domain.attribution.kernel import SortedTouches

    sets = np.zeros(source.span, dtype=np.int64)
    won, paid = np.zeros(source.span, dtype=bool), np.zeros(source.span)
    channels = _Channels(limit=62)  # a coalition is a bit mask in an int64
    # Shapley needs no time; one is read only to check it when the footer does not vouch for it.
    wanted = ("channel", "converted", "revenue") + (() if source.times_vouched_for else ("timestamp",))
    limit = kernels.TIME_LIMIT // source.per_unit
    for batch in read_batches(source, wanted):
        if batch.times is not None and len(batch.times) and max(-batch.times.min(), batch.times.max()) > limit:
            raise Unsure("a time too far out")
        bit_of = np.left_shift(np.int64(1), channels.codes_of(batch))
        status = kernels.journey_sets(
            batch.ids, source.first_id, batch.codes, bit_of, batch.converted, batch.revenue, sets, won, paid
        )
        if status != kernels.OK:
            raise Unsure(f"the compiled pass stopped ({status})")
    union = int(np.bitwise_or.reduce(sets))
    channels.used[: len(channels.codes)] = [(union >> code) & 1 for code in range(len(channels.codes))]
    names, rank = channels.sorted()
    present = sets != 0
    converted = won[present]
    revenue = np.where(converted, paid[present], 0.0)
    touches = SortedTouches(
        np.zeros(0, np.uint16), None, np.zeros(int(present.sum()) + 1, np.int64), converted, revenue
    )
    return names, touches, _coalitions(sets, won, paid, rank, len(channels.codes))


def _coalitions(sets, won, paid, rank, codes: int) -> dict[str, np.ndarray]:
    """kernel.coalitions()'s table: per channel set (masks in sorted-name bits), summed in journey order."""
    from truce.analytics import kernels

    journeys: np.ndarray
    conversions: np.ndarray
    revenue: np.ndarray
    if codes <= 20:
        journeys = np.zeros(1 << codes, dtype=np.int64)
        conversions, revenue = np.zeros(1 << codes, dtype=np.int64), np.zeros(1 << codes)
        kernels.group_sets(sets, won, paid, journeys, conversions, revenue)
        found = np.flatnonzero(journeys)
        journeys, conversions, revenue = journeys[found], conversions[found], revenue[found]
    else:  # too many channels for a counter per mask: grouped as kernel.coalitions groups them
        present = np.flatnonzero(sets)
        found, inverse = np.unique(sets[present], return_inverse=True)
        won_here = won[present]
        journeys = np.bincount(inverse, minlength=len(found)).astype(np.int64)
        conversions = np.bincount(inverse, won_here.astype(float), minlength=len(found)).astype(np.int64)
        revenue = np.bincount(inverse, np.where(won_here, paid[present], 0.0), minlength=len(found))
    mask = np.zeros(len(found), dtype=np.int64)
    for code in range(codes):  # a code's bit moves to its name's rank
        mask |= ((found >> code) & 1) << rank[code]
    order = np.argsort(mask)
    return {
        "mask": mask[order],
        "journeys": journeys[order],
        "conversions": conversions[order],
        "revenue": revenue[order],
    }


def _sorted_touches(con, view: str, channels: list[str], p: _Packing, times: bool = True):
    from truce.domain.attribution.kernel import SortedTouches

    listed = ", ".join("'" + c.replace("'", "''") + "'" for c in channels)
    if len(channels) <= 64:
        # Up to a few dozen names, finding the name in a list costs less than a cast to an
        # ENUM (at 1e7 journeys and 12 names: 0.2 s of CPU against 1.1 s).
        code = f"(list_position([{listed}], channel) - 1)::BIGINT"
    else:
        con.raw_sql(f"DROP TYPE IF EXISTS truce_channel; CREATE TYPE truce_channel AS ENUM ({listed})")
        code = "enum_code(channel::truce_channel)::BIGINT"
    shift_ts, shift_j = p.key_bits + 1, p.ts_bits + p.key_bits + 1
    # One integer per touch: sorting it orders touches by journey, then time, then channel.
    # Streamed into one array (the file's row count is known), then sorted in place; the
    # passes below go block by block, so no other temporary is as large as the keys.
    reader = con.con.sql(
        f"SELECT ((journey_id - {p.first_journey})::BIGINT << {shift_j}) | (((ts - {p.first_ts}) // {p.unit}) << {shift_ts}) "
        f"| ({code} << 1) | converted::BIGINT AS k FROM {view}"
    ).to_arrow_reader(1 << 18)  # batches small enough for Arrow to reuse their memory
    keys, filled = np.empty(p.rows, dtype=np.int64), 0
    for batch in reader:
        part = batch.column(0).to_numpy(zero_copy_only=False)
        if filled + len(part) > len(keys):
            keys = np.concatenate([keys[:filled], part, np.empty(0, np.int64)])
        else:
            keys[filled : filled + len(part)] = part
        filled += len(part)
    del reader
    keys = keys[:filled]
    keys.sort()
    # One pass over the sorted keys, in blocks that stay in cache: where a journey opens (its
    # bits change; the extra last slot closes the last journey), the touches flagged
    # converted, each touch's channel code and, for time decay, its time.
    m, block = len(keys), 1 << 18
    scratch = np.empty(min(m, block), dtype=np.int64)
    opens = np.empty(m + 1, dtype=bool)
    opens[0] = opens[m] = True
    key = np.empty(m, dtype=np.uint8 if p.key_bits <= 8 else np.uint16)
    ts = np.empty(m, dtype=np.int64) if times else None
    flagged = []
    for at in range(0, m, block):
        stop = min(m, at + block)
        part, tmp = keys[at:stop], scratch[: stop - at]
        after = max(at, 1)
        # Keys are non-negative: they differ above bit shift_j iff their XOR reaches 1 << shift_j.
        np.bitwise_xor(keys[after:stop], keys[after - 1 : stop - 1], out=tmp[: stop - after])
        np.greater_equal(tmp[: stop - after], 1 << shift_j, out=opens[after:stop])
        np.bitwise_and(part, 1, out=tmp)
        flagged.append(np.flatnonzero(tmp) + at)
        np.right_shift(part, 1, out=tmp)
        np.bitwise_and(tmp, (1 << p.key_bits) - 1, out=key[at:stop], casting="unsafe")
        if ts is not None:  # only when the model needs the times
            when = ts[at:stop]
            np.right_shift(part, shift_ts, out=when)
            when &= (1 << p.ts_bits) - 1
            when *= p.unit
            when += p.first_ts
    start = np.flatnonzero(opens)
    del opens, scratch
    converted = np.zeros(len(start) - 1, dtype=bool)
    converted[np.searchsorted(start, np.concatenate(flagged), side="right") - 1] = True
    revenue = np.zeros(len(start) - 1)
    paid = con.con.sql(f"SELECT journey_id, max(revenue) FROM {view} WHERE revenue > 0 GROUP BY 1").to_arrow_table()
    if paid.num_rows:
        # A journey's first touch is where its bits begin among the sorted keys; looked up in
        # journey order, so the binary searches stay in cache. Only converted journeys keep it.
        who = paid.column(0).to_numpy().astype(np.int64)
        order = np.argsort(who)
        where = np.searchsorted(start, np.searchsorted(keys, (who[order] - p.first_journey) << shift_j))
        value = paid.column(1).to_numpy()[order]
        won = converted[where]
        revenue[where[won]] = value[won]
    del keys
    return SortedTouches(key, ts, start, converted, revenue)
