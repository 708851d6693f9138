"""Spark and DuckDB give the same attribution on the demo company, for every model.

The same Ibis expressions run on both engines (truce.analytics.journeys and
truce.analytics.attribution); only the small aggregates come back to Python. Sums are taken
in a different order on each engine, so money may differ in the last float bits: credits
are compared to 1e-9 of the total.
"""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from truce import config as truce_config
from truce.domain.attribution import FILE_MODELS, MODELS
from truce.services import demo
from truce.services.attribution import attribution_report
from truce.services.attribution_file import file_report
from truce.store import db

pytestmark = pytest.mark.spark
CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")


@pytest.fixture(scope="module")
def demo_engine(sqlite_template, tmp_path_factory):
    path = tmp_path_factory.mktemp("spark") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=800, seed=11)
    yield engine
    engine.dispose()


def credits(report: dict) -> dict:
    return {row["key"]: (row["conversions"], row["revenue"]) for row in report["credits"]}


def assert_same(duck: dict, spark: dict) -> None:
    for field in ("journeys", "total_conversions", "unattributed"):
        assert duck[field] == spark[field], field
    assert spark["total_revenue"] == pytest.approx(duck["total_revenue"], rel=1e-12)
    a, b = credits(duck), credits(spark)
    assert a.keys() == b.keys()
    scale = max(duck["total_revenue"], 1.0)
    for key in a:
        assert b[key][0] == pytest.approx(a[key][0], abs=1e-9 * max(duck["total_conversions"], 1)), key
        assert b[key][1] == pytest.approx(a[key][1], abs=1e-9 * scale), key


@pytest.mark.parametrize("model", MODELS)
def test_it_gives_every_model_the_same_credit_on_spark_and_duckdb(spark_con, demo_engine, model):
    duck = attribution_report(demo_engine, CONFIG, model=model)
    spark = attribution_report(demo_engine, CONFIG, model=model, backend="spark")
    assert duck["total_conversions"] > 20  # a demo with deals to credit, or the test proves nothing
    assert_same(duck, spark)


@pytest.mark.parametrize(
    "options",
    [
        {"model": "markov", "by": "team", "level": "account"},
        {"model": "shapley", "by": "team", "conversion": "opportunity"},
        {"model": "w_shaped", "by": "campaign", "conversion": "opportunity", "level": "account"},
        {"model": "linear", "by": "user", "conversion": "mql", "lookback_days": 30},
    ],
)
def test_it_builds_the_same_journeys_on_spark_for_other_levels_conversions_and_keys(spark_con, demo_engine, options):
    assert_same(
        attribution_report(demo_engine, CONFIG, **options),
        attribution_report(demo_engine, CONFIG, **options, backend="spark"),
    )


def test_a_journeys_file_gives_the_same_answer_on_spark(spark_con, tmp_path):
    import numpy as np

    rng = np.random.default_rng(5)
    journeys = 400
    touches = rng.integers(1, 6, journeys)
    journey = np.repeat(np.arange(journeys), touches)
    converted = (rng.random(journeys) < 0.2)[journey]
    table = pa.table(
        {
            "journey_id": journey,
            "timestamp": pa.array((1.7e9 + rng.integers(0, 9e6, journey.size)) * 1_000_000, pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "channel": pa.array(
                np.array(["email", "search", "social", "call", "demo"])[rng.integers(0, 5, journey.size)]
            ),
            "converted": converted,
            "revenue": np.where(converted, 1000.0, 0.0),
        }
    )
    path = tmp_path / "journeys.parquet"
    pq.write_table(table, path)
    for model in FILE_MODELS:
        duck = file_report(path, model).report
        spark = file_report(path, model, engine="spark").report
        assert duck["total_conversions"] == spark["total_conversions"]
        by_channel = {row["channel"]: row for row in spark["channels"]}
        for row in duck["channels"]:
            assert by_channel[row["channel"]]["conversions"] == pytest.approx(row["conversions"], abs=1e-9), model
            assert by_channel[row["channel"]]["revenue"] == pytest.approx(row["revenue"], abs=1e-6), model


def journeys_table(count: int, seed: int, *, zone: str | None = "UTC", unit: str = "us") -> pa.Table:
    """`count` journeys of 1–5 touches, about a fifth converting (revenue on every converting row)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    touches = rng.integers(1, 6, count)
    journey = np.repeat(np.arange(count), touches)
    converted = (rng.random(count) < 0.2)[journey]
    seconds = 1_700_000_000 + rng.integers(0, 9_000_000, journey.size)
    per_second = {"s": 1, "ms": 1_000, "us": 1_000_000}[unit]
    return pa.table(
        {
            "journey_id": journey,
            "timestamp": pa.array(seconds * per_second, pa.int64()).cast(pa.timestamp(unit, tz=zone)),
            "channel": pa.array(
                np.array(["email", "search", "social", "call", "demo"])[rng.integers(0, 5, journey.size)]
            ),
            "converted": converted,
            "revenue": np.where(converted, 1000.0, 0.0),
        }
    )


def test_spark_reads_a_parquet_journeys_file_itself_and_a_csv_is_handed_over(spark_con, tmp_path, monkeypatch):
    import truce.analytics.spark as spark_module

    handed, hand_over = [], spark_module.hand_over

    def counted(con, name, table):
        handed.append((name, table.num_rows))
        return hand_over(con, name, table)

    monkeypatch.setattr(spark_module, "hand_over", counted)
    table = journeys_table(300, 7, zone=None, unit="ms")  # a time without a zone is UTC; milliseconds
    table = table.set_column(3, "Converted", pa.array(table.column("converted").to_numpy().astype("int8")))
    table = table.set_column(4, "revenue", table.column("revenue").cast(pa.int64()))  # whole numbers
    parquet = tmp_path / "journeys.parquet"
    pq.write_table(table, parquet, row_group_size=200)
    csv = tmp_path / "journeys.csv"
    csv.write_text(
        "journey_id,timestamp,channel,converted,revenue\n"
        + "".join(
            f"{j},{t.isoformat()}Z,{c},{int(v)},{r}\n"
            for j, t, c, v, r in zip(*(table.column(i).to_pylist() for i in range(5)), strict=True)
        )
    )
    for model in ("markov", "linear", "shapley"):
        duck = file_report(parquet, model).report
        assert duck["total_conversions"] > 20
        for path in (parquet, csv):
            spark = file_report(path, model, engine="spark").report
            assert spark["total_conversions"] == duck["total_conversions"], (path.name, model)
            assert spark["total_revenue"] == pytest.approx(duck["total_revenue"], rel=1e-12)
            by_channel = {row["channel"]: row for row in spark["channels"]}
            for row in duck["channels"]:
                assert by_channel[row["channel"]]["conversions"] == pytest.approx(row["conversions"], abs=1e-9)
                assert by_channel[row["channel"]]["revenue"] == pytest.approx(row["revenue"], abs=1e-6)
    # Only the channel codes (five rows) went from Python to Spark for the Parquet file; the CSV's
    # rows were handed over (CSV is read and checked in Python).
    rows = [n for name, n in handed if name == "truce_journey_rows"]
    assert rows == [table.num_rows] * 3
    assert {(name, n) for name, n in handed if name != "truce_journey_rows"} == {("truce_channel_codes", 5)}


PEAK = """
import sys
from truce.analytics.spark import spark_session
from truce.services.attribution_file import file_report


def peak_kib():  # this process's own high-water mark (getrusage's also counts the forking parent's)
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


spark_session()  # the session (and Ibis's Spark backend) first: the same in both runs
before = peak_kib()
report = file_report(sys.argv[1], "markov", engine="spark").report
print(report["total_conversions"], before, peak_kib())
"""


def test_the_python_drivers_memory_stays_flat_when_the_file_grows_tenfold(spark_con, tmp_path):
    # Each size in a fresh process on local[2]: the Python process's peak resident memory (KiB)
    # while Spark reads a file of 1e5 and of 1e6 journeys. Were the rows handed over through
    # Python, the larger file alone would add about 4,000,000 rows × 35 bytes ≈ 130 MiB.
    # (In local mode the JVM runs the executors too; its memory is Spark's, not this process's.)
    import os
    import subprocess
    import sys

    # Not this process's Spark: a child that inherits its gateway's address talks to its JVM.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYSPARK_GATEWAY")}
    peaks, conversions, befores = {}, {}, {}
    for count in (100_000, 1_000_000):
        path = tmp_path / f"journeys-{count}.parquet"
        pq.write_table(journeys_table(count, 3), path, row_group_size=1 << 17)  # same-sized parts: same buffers
        done = subprocess.run(
            [sys.executable, "-c", PEAK, str(path)], capture_output=True, text=True, timeout=600, check=False, env=env
        )
        assert done.returncode == 0, done.stderr[-2000:]
        found, before, after = done.stdout.split()[-3:]
        befores[count] = int(before)
        peaks[count], conversions[count] = int(after), float(found)
        path.unlink()
    assert conversions[1_000_000] > 9 * conversions[100_000]  # the larger file was read whole
    assert peaks[1_000_000] - peaks[100_000] < 40 * 1024, (peaks, befores)
