"""Ibis expressions on Spark (PySpark local mode) give what they give on DuckDB and by hand.

One small touch table goes to both engines: int64 ids (one above 2**53), strings, UTC
timestamps, floats, booleans and a nullable int64 bit mask. Each check runs the same Ibis
expression on both and compares the Arrow results (types included) with each other and
with values written out by hand. The `gotcha` tests pin the differences documented in
truce.analytics.spark, so an upgrade of Ibis or PySpark that changes one shows up here.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import ibis
import ibis.common.exceptions as ibis_errors
import ibis.expr.datatypes as dt
import pyarrow as pa
import pytest

from truce.analytics import spark
from truce.analytics.sources import duckdb_connection
from truce.analytics.spark import hand_over, to_arrow

BIG = 2**60 + 7  # above 2**53: any float64 round trip changes it
T0 = datetime(2026, 3, 1, tzinfo=UTC)
HOURS = [0, 5, 30, 1, 2, 3, 3, 100]

TOUCHES = pa.table(
    {
        "id": pa.array([1, 2, 3, 4, 5, 6, 7, 8], pa.int64()),
        "contact": pa.array([10, 10, 10, 20, 20, 30, 30, BIG], pa.int64()),
        "channel": pa.array(["ads", "email", "ads", "webinar", None, "email", "ads", "ads"], pa.string()),
        "ts": pa.array([T0 + timedelta(hours=h) for h in HOURS], pa.timestamp("us", tz="UTC")),
        "amount": pa.array([1.5, 2.25, None, 4.0, 0.5, 10.0, 3.0, 7.75], pa.float64()),
        "converted": pa.array([False, False, True, False, True, None, False, True], pa.bool_()),
        "mask": pa.array([1, 2, 4, None, 8, 16, 2**61, BIG], pa.int64()),
    }
)


@ibis.udf.agg.builtin(name="bit_or")
def bit_or(x: dt.int64) -> dt.int64:
    """BIT_OR: Spark SQL and DuckDB both have it; Ibis 12 doesn't compile its own on pyspark."""


@pytest.fixture(scope="module")
def on_spark(spark_con):
    return hand_over(spark_con, "touches", TOUCHES)


@pytest.fixture(scope="module")
def on_duckdb():
    con = duckdb_connection()
    yield con.create_table("touches", TOUCHES)
    con.disconnect()


def both(on_spark, on_duckdb, build) -> pa.Table:
    """The expression `build(t)` on both engines; they must agree, types included."""
    got_spark, got_duckdb = to_arrow(build(on_spark)), to_arrow(build(on_duckdb))
    assert got_spark.schema == got_duckdb.schema
    assert got_spark.to_pylist() == got_duckdb.to_pylist()
    return got_spark


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


pytestmark = pytest.mark.spark


def test_the_session_is_built_once_with_the_local_settings(spark_con):
    session = spark.spark_session()
    assert session is spark.spark_session() is spark_con._session
    conf = session.conf
    assert conf.get("spark.sql.session.timeZone") == "UTC"
    assert conf.get("spark.sql.shuffle.partitions") == "2"
    assert session.sparkContext.getConf().get("spark.ui.enabled") == "false"
    assert "truce-spark-" in conf.get("spark.sql.warehouse.dir")


def test_hand_over_keeps_int64_exact_and_timestamps_in_utc(on_spark):
    assert on_spark.schema() == ibis.schema(
        {
            "id": "int64",
            "contact": "int64",
            "channel": "string",
            "ts": "timestamp",  # Ibis types every Spark TIMESTAMP as naive (gotcha 1)
            "amount": "float64",
            "converted": "boolean",
            "mask": "int64",
        }
    )
    got = to_arrow(on_spark.order_by("id"))
    assert got.schema == TOUCHES.schema
    assert got.to_pylist() == TOUCHES.to_pylist()


def test_group_by_aggregate(on_spark, on_duckdb):
    def build(t):
        return (
            t.group_by("contact")
            .aggregate(
                touches=t.count(),
                amount=t.amount.sum(),
                first=t.ts.min(),
                last=t.ts.max(),
                converted=t.converted.any(),
                channels=t.channel.nunique(),
            )
            .order_by("contact")
        )

    got = both(on_spark, on_duckdb, build)
    assert [tuple(row.values()) for row in got.to_pylist()] == [
        (10, 3, 3.75, at(0), at(30), True, 2),
        (20, 2, 4.5, at(1), at(2), True, 1),
        (30, 2, 13.0, at(3), at(3), False, 2),  # any() skips the null
        (BIG, 1, 7.75, at(100), at(100), True, 1),
    ]


def test_lag_and_lead_ordered_by_time_with_a_tie_breaker(on_spark, on_duckdb):
    def build(t):
        step = ibis.window(group_by=t.contact, order_by=[t.ts, t.id])
        return t.select(
            "id",
            before=t.id.lag().over(step),
            after=t.id.lead().over(step),
            gap=t.ts.delta(t.ts.lag().over(step), unit="second"),
            position=ibis.row_number().over(step),
        ).order_by("id")

    got = both(on_spark, on_duckdb, build)
    assert got.column("before").to_pylist() == [None, 1, 2, None, 4, None, 6, None]
    assert got.column("after").to_pylist() == [2, 3, None, 5, None, 7, None, None]
    assert got.column("gap").to_pylist() == [None, 5 * 3600, 25 * 3600, None, 3600, None, 0, None]
    assert got.column("position").to_pylist() == [0, 1, 2, 0, 1, 0, 1, 0]


def test_bit_or_through_a_builtin_aggregate(on_spark, on_duckdb):
    got = both(on_spark, on_duckdb, lambda t: t.group_by("contact").aggregate(mask=bit_or(t.mask)).order_by("contact"))
    assert got.column("mask").to_pylist() == [1 | 2 | 4, 8, 16 | 2**61, BIG]


def test_gotcha_ibis_own_bit_or_is_not_compiled_on_spark(on_spark, on_duckdb):
    assert to_arrow(on_duckdb.aggregate(mask=on_duckdb.mask.bit_or())).column("mask").to_pylist() == [
        1 | 2 | 4 | 8 | 16 | 2**61 | BIG
    ]
    with pytest.raises(ibis_errors.OperationNotDefinedError):
        to_arrow(on_spark.aggregate(mask=on_spark.mask.bit_or()))


def test_collect_sorted(on_spark, on_duckdb):
    got = both(
        on_spark,
        on_duckdb,
        lambda t: t.group_by("contact").aggregate(channels=t.channel.collect().sort()).order_by("contact"),
    )
    assert got.column("channels").to_pylist() == [["ads", "ads", "email"], ["webinar"], ["ads", "email"], ["ads"]]


def test_gotcha_collect_of_only_nulls_is_empty_on_spark_null_on_duckdb(on_spark, on_duckdb):
    def build(t):
        return t.filter(t.id == 5).aggregate(channels=t.channel.collect())

    assert to_arrow(build(on_spark)).column("channels").to_pylist() == [[]]
    assert to_arrow(build(on_duckdb)).column("channels").to_pylist() == [None]


def test_sorting_puts_nulls_last_both_ways(on_spark, on_duckdb):
    up = both(on_spark, on_duckdb, lambda t: t.select("id", "amount").order_by(["amount", "id"]))
    assert up.column("id").to_pylist() == [5, 1, 2, 7, 4, 8, 6, 3]
    down = both(on_spark, on_duckdb, lambda t: t.select("id", "amount").order_by([ibis.desc("amount"), "id"]))
    assert down.column("id").to_pylist() == [6, 8, 4, 7, 2, 1, 5, 3]


def test_integer_division_modulo_and_a_guarded_divisor(on_spark, on_duckdb):
    def build(t):
        n = t.id - 4  # -3 … 4
        d = t.id % 3  # 1, 2, 0, …
        return t.select("id", ratio=n / d.nullif(0), floor=n // d.nullif(0), rest=n % d.nullif(0)).order_by("id")

    got = both(on_spark, on_duckdb, build)
    assert got.column("ratio").to_pylist() == [-3.0, -1.0, None, 0.0, 0.5, None, 3.0, 2.0]
    assert got.column("floor").to_pylist() == [-3, -1, None, 0, 0, None, 3, 2]
    assert got.column("rest").to_pylist() == [0, 0, None, 0, 1, None, 0, 0]


def test_gotcha_division_by_zero_raises_on_spark(on_spark):
    with pytest.raises(Exception, match="DIVIDE_BY_ZERO"):
        to_arrow(on_spark.select(v=on_spark.id / (on_spark.id - on_spark.id)))


def test_whole_epoch_seconds_agree_after_1970(on_spark, on_duckdb):
    got = both(
        on_spark, on_duckdb, lambda t: t.select("id", s=t.ts.epoch_seconds().floor().cast("int64")).order_by("id")
    )
    assert got.column("s").to_pylist() == [int((T0 + timedelta(hours=h)).timestamp()) for h in HOURS]


def test_gotcha_epoch_seconds_cast_rounds_on_duckdb_truncates_on_spark(spark_con):
    frac = pa.table(
        {"ts": pa.array([datetime(2026, 3, 1, 12, 0, 0, 900000, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))}
    )
    whole = int(datetime(2026, 3, 1, 12, tzinfo=UTC).timestamp())
    on_s = hand_over(spark_con, "frac", frac)
    duck = duckdb_connection()
    on_d = duck.create_table("frac", frac)
    assert to_arrow(on_s.ts.epoch_seconds().cast("int64")).to_pylist() == [whole]
    assert to_arrow(on_d.ts.epoch_seconds().cast("int64")).to_pylist() == [whole + 1]
    duck.disconnect()


def test_bit_masks_with_an_int64_one(on_spark, on_duckdb):
    def build(t):
        one = ibis.literal(1).cast("int64")  # CAST(1 AS BIGINT): 64-bit shifts on both engines
        return t.select("id", bit=one << (t.id * 7), set=(t.mask & (one << 61)) != 0).order_by("id")

    got = both(on_spark, on_duckdb, build)
    assert got.column("bit").to_pylist() == [1 << (7 * i) for i in range(1, 9)]
    assert got.column("set").to_pylist() == [False, False, False, None, False, False, True, False]


def test_gotcha_an_int64_literal_shifts_as_int32_on_spark(on_spark):
    got = to_arrow(on_spark.filter(on_spark.id == 6).select(v=ibis.literal(1, "int64") << (on_spark.id * 7)))
    assert got.column("v").to_pylist() == [1 << (42 % 32)]  # 1024, not 2**42: the shift is taken mod 32


def test_rounding_is_half_away_from_zero(on_spark, on_duckdb):
    def build(t):
        x = t.amount.fill_null(0) - 2.0  # -0.5, 0.25, -2.0, 2.0, -1.5, 8.0, 1.0, 5.75
        return t.select("id", r=x.round(), r1=x.round(1)).order_by("id")

    got = both(on_spark, on_duckdb, build)
    assert got.column("r").to_pylist() == [-1, 0, -2, 2, -2, 8, 1, 6]
    assert got.column("r1").to_pylist() == [-0.5, 0.3, -2.0, 2.0, -1.5, 8.0, 1.0, 5.8]


def test_gotcha_to_pyarrow_loses_int64_precision_through_pandas_to_arrow_does_not(on_spark):
    expr = on_spark.select("id", "mask").order_by("id")  # mask has a null and a value above 2**53
    assert expr.to_pyarrow().column("mask").to_pylist()[-1] != BIG
    assert to_arrow(expr).column("mask").to_pylist()[-1] == BIG


def test_gotcha_nan_counts_as_null_on_spark(spark_con):
    floats = pa.table({"x": pa.array([float("nan"), None, 1.0])})
    on_s = hand_over(spark_con, "floats", floats)
    duck = duckdb_connection()
    on_d = duck.create_table("floats", floats)
    assert to_arrow(on_s.x.isnull()).to_pylist() == [True, True, False]
    assert to_arrow(on_d.x.isnull()).to_pylist() == [False, True, False]
    duck.disconnect()


def test_gotcha_window_last_skips_nulls_on_spark(on_spark, on_duckdb):
    def build(t):
        whole = ibis.window(group_by=t.contact, order_by=t.id)
        return t.filter(t.contact == 10).select("id", last=t.amount.last().over(whole)).order_by("id")

    assert to_arrow(build(on_spark)).column("last").to_pylist() == [2.25, 2.25, 2.25]
    assert to_arrow(build(on_duckdb)).column("last").to_pylist() == [None, None, None]


def test_memtables_cache_and_scalars_work_through_to_arrow(on_spark, on_duckdb):
    for t in (on_spark, on_duckdb):
        labels = ibis.memtable({"channel": ["ads", "email"], "team": ["marketing", "sales"]})
        joined = t.join(labels, "channel").group_by("team").aggregate(n=ibis._.count()).order_by("team")
        assert to_arrow(joined).to_pylist() == [{"team": "marketing", "n": 4}, {"team": "sales", "n": 2}]
        cached = t.filter(t.converted).cache()
        assert to_arrow(cached.id.collect().sort()).as_py() == [3, 5, 8]
        cached.release()
        assert to_arrow(t.mask.max()).as_py() == 2**61
        assert to_arrow(t.channel.nunique()).as_py() == 3


def test_gotcha_cache_of_an_expression_with_a_memtable_fails_on_spark(on_spark):
    labels = ibis.memtable({"channel": ["ads"], "team": ["marketing"]})
    with pytest.raises(Exception, match="TABLE_OR_VIEW_NOT_FOUND"):
        on_spark.join(labels, "channel").cache()


def test_a_missing_pyspark_says_which_extra_to_install(monkeypatch):
    monkeypatch.setattr(spark, "_session", None)
    monkeypatch.setitem(sys.modules, "pyspark", None)
    monkeypatch.setitem(sys.modules, "pyspark.sql", None)
    with pytest.raises(ImportError, match=r"pip install 'truce\[spark\]'"):
        spark.spark_session()
    assert not spark.pyspark_available()


def test_the_local_jvms_heap_is_4g_unless_truce_spark_memory_says_otherwise(monkeypatch):
    from truce.analytics import spark

    monkeypatch.delenv("TRUCE_SPARK_MEMORY", raising=False)
    assert spark._memory() == "4g"
    monkeypatch.setenv("TRUCE_SPARK_MEMORY", " 512M ")
    assert spark._memory() == "512m"
    for bad in ("lots", "4 g", "0g", "4gb"):
        monkeypatch.setenv("TRUCE_SPARK_MEMORY", bad)
        with pytest.raises(ValueError, match="TRUCE_SPARK_MEMORY"):
            spark._memory()
