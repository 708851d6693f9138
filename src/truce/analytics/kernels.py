"""Compiled passes over a journeys file's columns (numba), for `truce attribution --from-file`.

A file's rows come in any order. Instead of sorting every touch (the packed-key route in
truce.services.attribution_file), the touches are placed by journey id: one pass counts each
journey's touches, one pass puts every touch in its journey's slots, and one pass orders the
few touches of each journey by time. Each pass is a single loop over flat arrays, compiled:
numpy needs several passes and a temporary per step for the same work. Shapley needs no order
at all: one pass ORs each journey's channels into a bit mask.

What comes out is what the packed-key route produces (truce.domain.attribution.kernel
.SortedTouches, the transitions table, the coalitions table), bit for bit; the tests compare
them, and both against brute force.

Compiled once per machine: `cache=True` keeps the machine code next to this file, or in
numba's user cache folder when that is not writable (NUMBA_CACHE_DIR chooses another), so only
the first run pays the compile (docs/attribution.md). `nogil=True` lets a reading thread decode
the next row group while a pass runs.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

OK, BAD_REVENUE, BAD_TIME, OUTSIDE = 0, 1, 2, 3


def _compiled(function):
    """njit, its machine code cached on disk when numba finds a writable folder for it."""
    try:
        return njit(cache=True, nogil=True)(function)
    except RuntimeError:  # no writable folder (a read-only install, no home): compile per process
        return njit(nogil=True)(function)


def _compiled_in_parallel(function):
    """_compiled, its `prange` loops shared among the cores."""
    try:
        return njit(cache=True, nogil=True, parallel=True)(function)
    except RuntimeError:
        return njit(nogil=True, parallel=True)(function)


# A time beyond ±2^62 µs (about 146,000 years) is not one DuckDB would read either.
TIME_LIMIT = 1 << 62


@_compiled
def count_by_block(ids, first_id, shift, sizes):  # pragma: no cover - compiled
    """Touches per block of 2^shift journey ids; OUTSIDE if an id is not in the counted range."""
    span = len(sizes) << shift
    for i in range(len(ids)):
        j = ids[i] - first_id
        if j < 0 or j >= span:
            return OUTSIDE
        sizes[j >> shift] += 1
    return OK


@_compiled
def place_touches(
    ids,
    first_id,
    shift,
    times,
    per_unit,
    codes,
    code_of,
    converted,
    revenue,
    fill,
    pool_time,
    pool_slot,
    won,
    paid,
    used,
):  # pragma: no cover - compiled
    """Each touch into the next free place of its block of journeys: its time (µs) and, in one
    int32, its journey inside the block and its channel. The journey's outcome (any row
    converted) and revenue (the largest on its rows) are kept per id; those arrays are touched
    only for converting or paying rows, as a random access per touch is what costs here.
    A revenue below 0 or not finite, or a time too far out, stops the pass: the checked route
    then names the row."""  # fmt: skip
    limit, blocks, room, inside = TIME_LIMIT // per_unit, len(fill), len(pool_time), (1 << shift) - 1
    for i in range(len(ids)):
        j = ids[i] - first_id
        block = j >> shift
        if j < 0 or block >= blocks:
            return OUTSIDE
        at = fill[block]
        if at >= room:  # the file changed since it was counted
            return OUTSIDE
        fill[block] = at + 1
        moment = times[i]
        if moment > limit or moment < -limit:
            return BAD_TIME
        pool_time[at] = moment * per_unit
        code = code_of[codes[i]]
        used[code] = True
        pool_slot[at] = ((j & inside) << 16) | code
        if converted[i]:
            won[j] = True
        money = revenue[i]
        if not (money >= 0.0 and money < np.inf):
            return BAD_REVENUE
        if money > 0.0 and money > paid[j]:
            paid[j] = money
    return OK


@_compiled_in_parallel
def order_blocks(bounds, shift, pool_time, pool_slot, rank, ends):  # pragma: no cover - compiled
    """Each block's journeys in id order, each one's touches by time then channel (as the
    packed keys sort); blocks are independent, so both cores take them.

    Inside a block (its journeys fit in cache): a counting sort by journey, then each
    journey's few touches by (time, channel rank). `pool_slot` ends holding just the channel's
    rank among the sorted names; `ends[j]` is where journey j ends inside its block.
    """
    for b in prange(len(bounds) - 1):
        _order_block(b, bounds[b], bounds[b + 1], shift, pool_time, pool_slot, rank, ends)


@_compiled_in_parallel
def order_and_count_blocks(
    bounds, shift, pool_time, pool_slot, rank, ends, won, width, block_counts, last
):  # pragma: no cover - compiled
    """order_blocks, and while each block is still in cache, its order-1 transitions counted
    as first_order_counts counts them, into the block's own row of `block_counts` (whole
    numbers: adding the rows up gives the same counts in any order). `last[j]` gets journey
    j's end (its cell in the table), or -1 when it has no touch; the revenue is added to those
    ends afterwards, in journey order (`add_revenue`), so its sums are first_order_counts'."""  # fmt: skip
    for b in prange(len(bounds) - 1):
        lo = bounds[b]
        _order_block(b, lo, bounds[b + 1], shift, pool_time, pool_slot, rank, ends)
        counts = block_counts[b]
        begin = 0
        for k in range(1 << shift):
            j = (b << shift) + k
            end = ends[j]
            if end == begin:
                last[j] = -1
                continue
            last[j] = _count_journey(pool_slot, lo + begin, lo + end, won[j], width, counts)
            begin = end


@_compiled
def add_revenue(last, won, paid, values, revenue):  # pragma: no cover - compiled
    """Converted journeys' revenue added to their end cell in journey order (first_order_counts'
    sums, to the bit), and copied in that order into `revenue`; (journeys with a touch, converted)."""
    journeys, converted = 0, 0
    for j in range(len(last)):
        if last[j] < 0:
            continue
        journeys += 1
        if won[j]:
            values[last[j]] += paid[j]
            revenue[converted] = paid[j]
            converted += 1
    return journeys, converted


@_compiled
def _order_block(b, lo, hi, shift, pool_time, pool_slot, rank, ends):  # pragma: no cover - compiled
    width = 1 << shift
    counts = np.zeros(width + 1, dtype=np.int64)
    for i in range(lo, hi):
        counts[(pool_slot[i] >> 16) + 1] += 1
    for k in range(width):
        counts[k + 1] += counts[k]  # now counts[k] is where journey k of the block begins
    scratch_time = np.empty(hi - lo, dtype=np.int64)
    scratch_slot = np.empty(hi - lo, dtype=np.int32)
    for i in range(lo, hi):
        local = pool_slot[i] >> 16
        at = counts[local]
        counts[local] = at + 1
        scratch_time[at] = pool_time[i]
        scratch_slot[at] = rank[pool_slot[i] & 0xFFFF]
    pool_time[lo:hi] = scratch_time
    pool_slot[lo:hi] = scratch_slot
    begin = lo  # counts[k] is now where journey k + 1 begins
    for k in range(width):
        end = lo + counts[k]
        ends[(b << shift) + k] = counts[k]
        if end - begin > 32:
            _merge_sort(pool_time, pool_slot, begin, end)
        elif end - begin > 1:
            _insertion_sort(pool_time, pool_slot, begin, end)
        begin = end


@_compiled
def keep_journeys(bounds, shift, ends, won, paid, start):  # pragma: no cover - compiled
    """Where each journey starts, journeys without touches dropped; `won` and `paid` compacted
    in place (a journey never moves forward), `paid` kept only where the journey converted."""
    width = 1 << shift
    kept = 0
    for b in range(len(bounds) - 1):
        lo = bounds[b]
        begin = 0
        for k in range(width):
            j = (b << shift) + k
            end = ends[j]
            if end == begin:
                continue
            start[kept] = lo + begin
            won[kept] = won[j]
            paid[kept] = paid[j] if won[j] else 0.0
            kept += 1
            begin = end
    start[kept] = bounds[len(bounds) - 1]
    return kept


@_compiled
def _insertion_sort(times, codes, lo, hi):  # pragma: no cover - compiled
    for i in range(lo + 1, hi):
        t, c = times[i], codes[i]
        k = i - 1
        while k >= lo and (times[k] > t or (times[k] == t and codes[k] > c)):
            times[k + 1] = times[k]
            codes[k + 1] = codes[k]
            k -= 1
        times[k + 1] = t
        codes[k + 1] = c


@_compiled
def _merge_sort(times, codes, lo, hi):  # pragma: no cover - compiled
    # A long journey: stable by channel, then stable by time, is by (time, channel).
    by_code = np.argsort(codes[lo:hi], kind="mergesort")
    t, c = times[lo:hi][by_code], codes[lo:hi][by_code]
    by_time = np.argsort(t, kind="mergesort")
    times[lo:hi] = t[by_time]
    codes[lo:hi] = c[by_time]


@_compiled
def first_order_counts(key, start, converted, revenue, width, counts, values):  # pragma: no cover - compiled
    """Order-1 Markov transitions counted under (src + 3) · width + (dst + 3), as
    truce.domain.attribution.kernel._first_order counts them: a state is key + 1, START −1,
    CONVERSION −2, NULL −3; a repeat of the previous key is no step; every journey ends once.
    Converted journeys' revenue is added to their end in journey order (the same sums)."""
    for j in range(len(start) - 1):
        end = _count_journey(key, start[j], start[j + 1], converted[j], width, counts)
        if converted[j]:
            values[end] += revenue[j]


@_compiled
def _count_journey(key, lo, hi, converted, width, counts):  # pragma: no cover - compiled
    """One journey's (touches lo..hi) order-1 transitions added to `counts`; its end cell."""
    previous = key[lo]
    counts[2 * width + previous + 4] += 1  # START → first state
    for i in range(lo + 1, hi):
        current = key[i]
        if current != previous:
            counts[(previous + 4) * width + current + 4] += 1
            previous = current
    end = (previous + 4) * width + (1 if converted else 0)
    counts[end] += 1
    return end


@_compiled
def journey_sets(ids, first_id, codes, bit_of, converted, revenue, sets, won, paid):  # pragma: no cover - compiled
    """Each journey's channels as a bit mask, its outcome and its largest revenue: one pass,
    no order needed (Shapley's coalition is the set of channels touched)."""
    span = len(sets)
    for i in range(len(ids)):
        j = ids[i] - first_id
        if j < 0 or j >= span:
            return OUTSIDE
        sets[j] |= bit_of[codes[i]]
        if converted[i]:
            won[j] = True
        money = revenue[i]
        if not (money >= 0.0 and money < np.inf):
            return BAD_REVENUE
        if money > 0.0 and money > paid[j]:
            paid[j] = money
    return OK


@_compiled
def group_sets(sets, won, paid, journeys, conversions, revenue):  # pragma: no cover - compiled
    """Journeys, conversions and revenue per mask (indexed by the mask), summed in journey order."""
    for j in range(len(sets)):
        mask = sets[j]
        if mask == 0:
            continue  # no journey with this id
        journeys[mask] += 1
        if won[j]:
            conversions[mask] += 1
            revenue[mask] += paid[j]


@_compiled
def exact_shapley(
    masks, rows, worth_conv, worth_rev, conversions, revenue, rate, credit_conv, credit_rev
):  # pragma: no cover - compiled
    """Exact Shapley credit of every coalition in `rows` (indexes into masks), added per channel.

    worth_*: v(T) for every mask T of the channels (0 where no journey has exactly T), so a
    sub-coalition's worth is one load, not a search. For a coalition S of k channels, member j
    earns Σ over T ⊆ S∖{j} of |T|! (k−|T|−1)! / k! · (v(T ∪ {j}) − v(T)), the subsets T taken
    in the order of their bits inside S (truce.domain.attribution.shapley's rule and order).
    `rate`: the φ are shares of S's conversions and revenue; otherwise they are the credit.
    """
    for r in range(len(rows)):
        i = rows[r]
        mask = masks[i]
        members = np.empty(64, dtype=np.int64)
        k = 0
        for channel in range(64):
            if (mask >> channel) & 1:
                members[k] = channel
                k += 1
        full = np.zeros(1 << k, dtype=np.int64)  # each subset of S's own bits, in channel bits
        size = np.zeros(1 << k, dtype=np.int64)
        for t in range(1, 1 << k):
            low = t & -t
            at = 0
            while (low >> at) != 1:
                at += 1
            full[t] = full[t & (t - 1)] | (np.int64(1) << members[at])
            size[t] = size[t & (t - 1)] + 1
        weight = np.empty(k, dtype=np.float64)
        whole = 1
        for s in range(2, k + 1):
            whole *= s
        for s in range(k):
            top, bottom = 1, 1
            for x in range(2, s + 1):
                top *= x
            for x in range(2, k - s):
                bottom *= x
            weight[s] = (top * bottom) / whole
        phi_conv = np.zeros(k)
        phi_rev = np.zeros(k)
        for j in range(k):
            bit = 1 << j
            for t in range(1 << k):
                if t & bit:
                    continue
                w = weight[size[t]]
                phi_conv[j] += w * (worth_conv[full[t | bit]] - worth_conv[full[t]])
                phi_rev[j] += w * (worth_rev[full[t | bit]] - worth_rev[full[t]])
        if rate:
            total = phi_conv.sum()
            for j in range(k):
                share = phi_conv[j] / total
                credit_conv[members[j]] += share * conversions[i]
                credit_rev[members[j]] += share * revenue[i]
        else:
            for j in range(k):
                credit_conv[members[j]] += phi_conv[j]
                credit_rev[members[j]] += phi_rev[j]
