"""The compiled passes over a Parquet journeys file (truce.analytics.kernels).

Checked three ways: against brute force in plain Python (dicts of journeys, transitions counted
one by one, removal effects from an absorbing chain solved in exact fractions, channel sets
counted one by one); against the packed-key route (DuckDB keys sorted in numpy), which must give
the same report to the bit; and on bad cells, which must still be refused naming the row.
"""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter, defaultdict
from fractions import Fraction as F

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import truce.services.attribution_file as attribution_file
from truce.analytics import longfile
from truce.analytics.longfile import FileError
from truce.domain.attribution import FILE_MODELS
from truce.services.attribution_file import file_report
from truce.services.attribution_runner import Settings

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
NAMES = ["email", "paid_search", "display", "webinar", "organic", "referral"]
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)


# ---- journeys, written to Parquet ---------------------------------------------------------------


def journeys(seed: int, count: int, *, first_id: int = 1, gap: int = 1, longest: int = 6) -> list[dict]:
    """Rows of `count` journeys: repeats, ties in the same second, conversion on any row, revenue
    on several rows; shuffled."""
    rng = random.Random(seed)
    rows = []
    for j in range(count):
        converts = rng.random() < 0.4
        begin = rng.randint(0, 200 * 86_400)
        pool = NAMES[: rng.randint(1, len(NAMES))]
        for _ in range(rng.randint(1, longest)):
            second = begin if rng.random() < 0.15 else begin + rng.randint(0, 30 * 86_400)
            rows.append(
                {
                    "journey_id": first_id + gap * j,
                    "timestamp": EPOCH + dt.timedelta(seconds=second),
                    "channel": rng.choice(pool),
                    "converted": converts and rng.random() < 0.5,
                    "revenue": float(rng.randint(0, 40) * 25) if rng.random() < 0.3 else 0.0,
                }
            )
    rng.shuffle(rows)
    return rows


SCHEMA = pa.schema(
    [
        ("journey_id", pa.int64()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("channel", pa.string()),
        ("converted", pa.bool_()),
        ("revenue", pa.float64()),
    ]
)


def write(path, rows, schema=SCHEMA, row_group_size=None):
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path, row_group_size=row_group_size)
    return path


@pytest.fixture
def packed_keys_only(monkeypatch):
    """The packed-key route: the compiled reader declines every file."""
    monkeypatch.setattr(attribution_file, "_columnar", lambda *args: None)


def both_routes(path, model, monkeypatch, settings=Settings()):
    compiled = file_report(path, model, settings)
    with monkeypatch.context() as patched:
        patched.setattr(attribution_file, "_columnar", lambda *args: None)
        packed = file_report(path, model, settings)
    return compiled, packed


# ---- brute force ----------------------------------------------------------------------------------


def by_journey(rows):
    """journey → (channels in time order, ties by name), converted, revenue (largest, if converted)."""
    grouped = defaultdict(list)
    for row in rows:
        grouped[row["journey_id"]].append(row)
    found = {}
    for journey, touches in sorted(grouped.items()):
        touches.sort(key=lambda r: (r["timestamp"], r["channel"]))
        converted = any(r["converted"] for r in touches)
        revenue = max(r["revenue"] for r in touches) if converted else 0.0
        found[journey] = ([r["channel"] for r in touches], converted, revenue)
    return found


def counted_transitions(rows):
    """(from, to) → count, with START, CONVERSION and NULL; repeats of a channel are no step."""
    counted = Counter()
    for path, converted, _ in by_journey(rows).values():
        steps = [path[0]] + [b for a, b in zip(path, path[1:], strict=False) if b != a]
        for a, b in zip(["START", *steps], [*steps, "CONVERSION" if converted else "NULL"], strict=True):
            counted[a, b] += 1
    return counted


def conversion_probability(counted, removed=None) -> F:
    """P(CONVERSION from START), exactly: Gaussian elimination over fractions."""
    states = sorted({a for a, _ in counted} - {"START"} - {removed})
    out = Counter()
    for (a, _), n in counted.items():
        out[a] += n
    rows_ = ["START", *states]
    index = {s: i for i, s in enumerate(rows_)}
    size = len(rows_)
    matrix = [[F(int(i == k)) for k in range(size)] + [F(0)] for i in range(size)]
    for (a, b), n in counted.items():
        if a not in index:
            continue
        p = F(n, out[a])
        if b == "CONVERSION":
            matrix[index[a]][size] += p
        elif b in index:
            matrix[index[a]][index[b]] -= p
    for col in range(size):
        pivot = next(r for r in range(col, size) if matrix[r][col] != 0)
        matrix[col], matrix[pivot] = matrix[pivot], matrix[col]
        for r in range(size):
            if r != col and matrix[r][col] != 0:
                factor = matrix[r][col] / matrix[col][col]
                matrix[r] = [x - factor * y for x, y in zip(matrix[r], matrix[col], strict=True)]
    return matrix[0][size] / matrix[0][0]


def brute_markov_conversions(rows) -> dict[str, float]:
    counted = counted_transitions(rows)
    whole = conversion_probability(counted)
    total = sum(converted for _, converted, _ in by_journey(rows).values())
    channels = sorted({r["channel"] for r in rows})
    effects = {c: max(F(0), 1 - conversion_probability(counted, c) / whole) for c in channels}
    scale = sum(effects.values())
    return {c: float(effects[c] / scale * total) for c in channels}


def brute_coalitions(rows) -> dict[int, tuple[int, int, float]]:
    channels = sorted({r["channel"] for r in rows})
    found = defaultdict(lambda: [0, 0, 0.0])
    for path, converted, revenue in by_journey(rows).values():
        mask = sum(1 << channels.index(c) for c in set(path))
        found[mask][0] += 1
        found[mask][1] += converted
        found[mask][2] += revenue
    return {mask: tuple(v) for mask, v in found.items()}


# ---- the passes against brute force -------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), count=st.integers(1, 60), gap=st.sampled_from([1, 3, 15_000]))
def test_the_compiled_transitions_are_the_ones_counted_by_hand(tmp_path, seed, count, gap):
    rows = journeys(seed, count, gap=gap)
    source = longfile.parquet_columns(write(tmp_path / "j.parquet", rows, row_group_size=17))
    assert source is not None
    channels, touches = attribution_file._ordered_touches(source, times=False)
    table = attribution_file._transitions(touches, 1, len(channels))
    name = {-1: "START", -2: "CONVERSION", -3: "NULL"}
    found = {
        (name.get(s, channels[s - 1] if s >= 0 else None), name.get(d, channels[d - 1] if d >= 0 else None)): int(n)
        for s, d, n in zip(table["src"].tolist(), table["dst"].tolist(), table["count"].tolist(), strict=True)
    }
    assert found == dict(counted_transitions(rows))
    paid = sum(revenue for _, converted, revenue in by_journey(rows).values() if converted)
    assert float(table["value"].sum()) == pytest.approx(paid)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), count=st.integers(1, 60), gap=st.sampled_from([1, 3, 15_000]))
def test_transitions_counted_while_ordering_equal_the_ones_counted_after_to_the_bit(tmp_path, seed, count, gap):
    # Markov (order 1) counts each block's transitions as the block is ordered, in parallel, and
    # adds the revenue afterwards in journey order: the same table, sums and totals as ordering
    # every journey first and counting in one pass (which the test above holds to a hand count).
    rows = journeys(seed, count, gap=gap)
    source = longfile.parquet_columns(write(tmp_path / "j.parquet", rows, row_group_size=17))
    channels, touches = attribution_file._ordered_touches(source, times=False)
    expected = attribution_file._transitions(touches, 1, len(channels))
    names, table, journeys_seen, revenue = attribution_file._first_order_transitions(source)
    assert names == channels and journeys_seen == touches.journeys == count
    for column in ("src", "dst", "count", "value"):
        assert table[column].tolist() == expected[column].tolist(), column
    paid = touches.revenue[touches.converted]
    assert revenue.tolist() == paid.tolist() and float(revenue.sum()) == float(paid.sum())


def test_too_many_channels_to_count_by_block_are_ordered_first(tmp_path, monkeypatch):
    path = kinds_of_file(tmp_path)["plain"]
    counted = file_report(path, "markov").report
    monkeypatch.setattr(attribution_file, "MAX_BLOCK_CELLS", 0)
    source = longfile.parquet_columns(path)
    assert attribution_file._first_order_transitions(source) is None
    assert file_report(path, "markov").report == counted


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), count=st.integers(1, 60), gap=st.sampled_from([1, 7, 15_000]))
def test_the_compiled_channel_sets_are_the_ones_counted_by_hand(tmp_path, seed, count, gap):
    rows = journeys(seed, count, gap=gap)
    source = longfile.parquet_columns(write(tmp_path / "j.parquet", rows, row_group_size=13))
    channels, touches, table = attribution_file._journey_sets(source)
    assert channels == sorted({r["channel"] for r in rows})
    found = {
        int(m): (int(j), int(c), float(v))
        for m, j, c, v in zip(table["mask"], table["journeys"], table["conversions"], table["revenue"], strict=True)
    }
    expected = brute_coalitions(rows)
    assert found.keys() == expected.keys()
    for mask, (j, c, v) in expected.items():
        assert found[mask][:2] == (j, c) and found[mask][2] == pytest.approx(v)
    assert touches.journeys == count and int(touches.converted.sum()) == sum(c for _, c, _ in expected.values())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_markov_credit_from_the_file_is_the_exact_removal_effect(tmp_path, seed):
    rows = journeys(seed, 300, gap=5)
    path = write(tmp_path / "j.parquet", rows, row_group_size=97)
    report = file_report(path, "markov").report
    found = {r["channel"]: r["conversions"] for r in report["channels"]}
    expected = brute_markov_conversions(rows)
    assert found.keys() == expected.keys()
    for channel, credit in expected.items():
        assert found[channel] == pytest.approx(credit, rel=1e-9, abs=1e-9), channel


# ---- the compiled route against the packed-key route: the same report, to the bit ----------------


def kinds_of_file(tmp_path) -> dict:
    rows = journeys(11, 3000, first_id=-20_000, gap=3, longest=45)  # > 32 touches: the long-journey sort
    files = {"plain": write(tmp_path / "plain.parquet", rows, row_group_size=5000)}
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    seconds = pa.array([int((r["timestamp"] - EPOCH).total_seconds()) + 1_735_689_600 for r in rows])
    other = table.set_column(0, "journey_id", table.column("journey_id").cast(pa.int32()))
    other = other.set_column(1, "Timestamp", seconds.cast(pa.timestamp("s")))  # no zone, seconds, any case
    other = other.set_column(
        3, "converted", pa.array([int(r["converted"]) if r["revenue"] != 25 else None for r in rows])
    )
    other = other.set_column(4, "revenue", pa.array([int(r["revenue"]) if r["revenue"] != 50 else None for r in rows]))
    pq.write_table(other, tmp_path / "typed.parquet", row_group_size=1234)
    files["typed"] = tmp_path / "typed.parquet"
    # A channel column written as a category with a name no row uses.
    unused = table.set_column(
        2,
        "channel",
        pa.DictionaryArray.from_arrays(pa.array([NAMES.index(r["channel"]) for r in rows]), [*NAMES, "never"]),
    )
    pq.write_table(unused, tmp_path / "unused.parquet", row_group_size=999)
    files["unused"] = tmp_path / "unused.parquet"
    return files


@pytest.mark.parametrize("model", FILE_MODELS)
def test_the_compiled_route_gives_the_packed_key_route_s_report_to_the_bit(tmp_path, monkeypatch, model):
    for kind, path in kinds_of_file(tmp_path).items():
        assert longfile.parquet_columns(path) is not None, kind
        compiled, packed = both_routes(path, model, monkeypatch)
        assert compiled.path_taken == packed.path_taken == "fast"
        assert compiled.report == packed.report, kind
        assert compiled.notes == packed.notes, kind
        assert "never" not in {r["channel"] for r in compiled.report["channels"]}


@pytest.mark.parametrize("order", [2, 3])
def test_higher_orders_agree_to_the_bit(tmp_path, monkeypatch, order):
    path = kinds_of_file(tmp_path)["plain"]
    compiled, packed = both_routes(path, "markov", monkeypatch, Settings(markov_order=order))
    assert compiled.report == packed.report


def test_journeys_spread_over_many_blocks_of_ids(tmp_path, monkeypatch):
    # Ids 300 apart: 2^15 ids to a block, so about 109 journeys a block over 28 blocks.
    rows = journeys(5, 3000, first_id=10**12, gap=300)
    path = write(tmp_path / "wide.parquet", rows, row_group_size=2048)
    assert longfile.parquet_columns(path) is not None
    for model in ("markov", "shapley", "time_decay", "position_based"):
        compiled, packed = both_routes(path, model, monkeypatch)
        assert compiled.report == packed.report, model


def test_ids_too_sparse_to_count_by_take_the_packed_key_route(tmp_path, monkeypatch):
    rows = journeys(5, 200, gap=1 << 22)
    path = write(tmp_path / "sparse.parquet", rows)
    assert longfile.parquet_columns(path) is None
    assert file_report(path, "markov").path_taken == "fast"


def test_rerunning_the_compiled_route_is_identical(tmp_path):
    path = kinds_of_file(tmp_path)["plain"]
    for model in ("markov", "shapley", "time_decay"):
        assert file_report(path, model).report == file_report(path, model).report


# ---- bad cells in a file the compiled reader would take ------------------------------------------


GOOD = [
    {"journey_id": 1, "timestamp": EPOCH, "channel": "email", "converted": True, "revenue": 10.0},
    {"journey_id": 2, "timestamp": EPOCH, "channel": "search", "converted": False, "revenue": 0.0},
]


@pytest.mark.parametrize(
    "bad, column, why",
    [
        ({"revenue": -1.0}, "revenue", "0 or more"),
        ({"revenue": float("nan")}, "revenue", "0 or more"),
        ({"revenue": float("inf")}, "revenue", "0 or more"),
        ({"channel": None}, "channel", "required"),
        ({"channel": "   "}, "channel", "required"),
        ({"channel": ""}, "channel", "required"),
        ({"timestamp": None}, "timestamp", "not a time"),
        ({"journey_id": None}, "journey_id", "required"),
    ],
)
@pytest.mark.parametrize("model", ["markov", "shapley"])
def test_a_bad_cell_is_still_named_by_its_row(tmp_path, bad, column, why, model):
    rows = [*GOOD, {**GOOD[0], "journey_id": 3} | bad, *GOOD]
    path = write(tmp_path / "bad.parquet", rows)
    with pytest.raises(FileError) as caught:
        file_report(path, model)
    message = str(caught.value)
    assert str(path) in message and re.search(r"row 3\b", message) and f"column {column}" in message, message
    assert why in message, message


def test_a_channel_named_with_a_leading_space_or_past_ascii_is_kept(tmp_path, monkeypatch):
    rows = [*GOOD, {**GOOD[0], "journey_id": 3, "channel": " email"}, {**GOOD[0], "journey_id": 4, "channel": "évent"}]
    path = write(tmp_path / "names.parquet", rows)
    compiled, packed = both_routes(path, "markov", monkeypatch)
    assert compiled.report == packed.report
    assert {r["channel"] for r in compiled.report["channels"]} == {"email", "search", " email", "évent"}


def test_every_journey_and_channel_is_counted_once(tmp_path):
    rows = journeys(9, 500)
    path = write(tmp_path / "j.parquet", rows, row_group_size=333)
    channels, touches = attribution_file._ordered_touches(longfile.parquet_columns(path), times=True)
    expected = by_journey(rows)
    assert touches.journeys == len(expected)
    assert np.array_equal(touches.lengths(), [len(p) for p, _, _ in expected.values()])
    assert [channels[k] for k in touches.key.tolist()] == [c for p, _, _ in expected.values() for c in p]
    assert touches.converted.tolist() == [c for _, c, _ in expected.values()]


def test_without_a_writable_cache_folder_the_passes_still_compile(monkeypatch):
    from truce.analytics import kernels

    def njit(**options):
        if options.get("cache"):
            raise RuntimeError("cannot cache function: no locator available")
        return lambda function: ("compiled", options, function)

    monkeypatch.setattr(kernels, "njit", njit)
    assert kernels._compiled(len) == ("compiled", {"nogil": True}, len)


def test_the_ids_kept_by_the_counting_pass_are_handed_out_in_order_whatever_the_batches():
    kept = longfile.JourneyIds()
    for part in (np.arange(0, 5), np.arange(5, 9), np.arange(9, 10)):
        kept.add(part)
    kept.done()  # the counting pass is over: the placing pass takes them
    taken = [kept.take(n).tolist() for n in (3, 4, 3)]
    assert taken == [[0, 1, 2], [3, 4, 5, 6], [7, 8, 9]]
    kept.done()
    assert kept.take(10).tolist() == list(range(10))  # the next pass starts again at the first id
    with pytest.raises(longfile.Unsure, match="changed"):
        kept.take(1)  # more rows than the counting pass read
    kept.done()
    kept.take(4)
    with pytest.raises(longfile.Unsure, match="changed"):
        kept.done()  # fewer rows than the counting pass read


def test_a_file_replaced_between_the_passes_is_left_to_the_checked_route(tmp_path, monkeypatch):
    rows = journeys(3, 400, gap=2)
    path = write(tmp_path / "j.parquet", rows, row_group_size=50)
    reads = longfile.read_batches

    def replaced_after_counting(source, wanted, ids=None):
        yield from reads(source, wanted, ids)
        if not wanted:  # the counting pass is done: another file now has this name
            write(path, journeys(4, 300, gap=2), row_group_size=50)

    monkeypatch.setattr(longfile, "read_batches", replaced_after_counting)
    source = longfile.parquet_columns(path)
    with pytest.raises(longfile.Unsure, match="changed"):
        attribution_file._first_order_transitions(source)
