"""Spark (PySpark local mode, through Ibis) as an optional analytics engine.

Needs the spark extra (`pip install 'truce[spark]'`: ibis-framework[pyspark] 12, pyspark 4.0)
and Java 17. pyspark is imported inside the functions, so this module imports without it.

    con = spark_connection()                        # Ibis pyspark backend on the one session
    ledger = hand_over(con, "ledger", arrow_table)  # a temp view, as an Ibis table
    moves = read_parquet(con, "moves", "/copies/r42-….parquet/stage_changes.parquet")  # read by Spark
    result = to_arrow(expr)                         # exact Arrow result, on any backend

`spark_session()` builds one SparkSession per process and keeps it: master local[2] (or
$TRUCE_SPARK_MASTER, e.g. spark://host:7077), no UI and no progress bar, 2 shuffle
partitions, driver bound to 127.0.0.1 (local masters only), session time zone UTC, Arrow
transfer on, a fresh warehouse directory under a temporary folder (removed at exit), and
Spark's log at ERROR from the JVM's start. If the process already has a SparkSession,
getOrCreate returns it and only the runtime (spark.sql.*) settings apply.
Spark keeps ANSI mode on (spark.sql.ansi.enabled=true, the 4.0 default): overflow, division
by zero and bad casts raise, as they mostly do on DuckDB, instead of giving NULL.
Don't call `con.disconnect()` on a Spark connection: it stops the shared session (the next
`spark_session()` then builds a new one in ~0.2 s; the JVM stays up).

Cost, measured on the 2-core CI machine (Java 17.0.15, pyspark 4.0.5, ibis 12.0.0): the
session starts in 4.5-7 s when the machine is idle and up to 18-24 s when it is busy; the
first hand-over and the first queries take 1-4 s each (JVM warm-up), later small queries
0.05-0.3 s. The JVM is ~0.4 GB RSS after start and grows with work up to its heap (4g in
local mode, $TRUCE_SPARK_MEMORY); the Python side stays ~0.15-0.3 GB, whatever the data.

Handing Arrow over (measured, ibis 12 + pyspark 4.0):

- `session.createDataFrame(arrow_table).createOrReplaceTempView(name)` is what `hand_over`
  does. Arrow goes to the JVM as Arrow: int64 stays bigint and exact (2**60 + 7 next to a
  null survives), timestamp[s|us|ns] with any zone, and naive ones, all become Spark
  TIMESTAMP (an instant; naive values are read as UTC, the session zone), decimal128 stays
  decimal, dictionary and large_string become string, an empty table keeps its schema.
  200 000 rows x 3 columns: 0.4 s. Spark holds microseconds: nanoseconds are cut.
- `con.create_view(name, ibis.memtable(t))` and `con.create_table(name, obj=t)` also work,
  but both go through pandas (Ibis's memtable registration): an int64 column holding a null
  becomes float64 on the way, so values above 2**53 lose their low bits (2**60 + 7 arrives
  as 2**60). create_table also writes Parquet into the warehouse.

Reading results: `expr.to_pyarrow()` / `con.to_pyarrow(expr)` on Spark go through pandas
(`toPandas`) too, with the same float64 loss for int64 columns that hold a null, and they
drop the time zone of timestamps. `to_arrow(expr)` reads Spark's own Arrow
(`DataFrame.toArrow()`) and casts each column to the type Ibis promised, keeping tz=UTC on
timestamps, so its results equal DuckDB's, types included; on any other backend it is
`expr.to_pyarrow()`.

Ibis on Spark versus Ibis on DuckDB — the gotchas, each one measured (the tests in
tests/test_spark_engine.py named `gotcha` pin those attribution code is likeliest to hit):

 1. Timestamp types. Ibis types every Spark TIMESTAMP column as a naive `timestamp`, even
    when the Arrow handed over said tz=UTC (DuckDB keeps `timestamp('UTC')`). Comparing
    with `ibis.timestamp("2026-03-01T00:00:00+00:00")` or with a naive literal works on
    both (UTC session). Ibis's to_pyarrow() returns naive UTC wall-clock values from Spark;
    `to_arrow` returns tz=UTC, like DuckDB.
 2. epoch_seconds(). Spark compiles it to UNIX_TIMESTAMP: whole seconds, truncated. DuckDB
    compiles it to EPOCH(): a fractional double, which Ibis types int32 — so reading a
    fractional one fails on DuckDB (ArrowInvalid), `.cast("int64")` ROUNDS on DuckDB
    (12:00:00.9 -> ...401) but truncates on Spark (...400), and before 1970 Spark truncates
    towards zero where DuckDB's `.floor()` gives -1. Portable: `ts.epoch_seconds().floor()
    .cast("int64")` for times after 1970; better, hand over int64 seconds computed in Arrow
    and keep the expressions in integer arithmetic (as sources.py does). `ts.second()`
    differs too: Spark returns the fraction (decimal(8,6), 59.5), DuckDB 59, and the cast to
    Ibis's int32 then fails on Spark.
 3. Integer literals are 32-bit on Spark. `ibis.literal(1, "int64")` compiles to a bare `1`,
    which Spark types INT, so `ibis.literal(1, "int64") << 42` is SHIFTLEFT(int, 42) = 1024
    (the shift is taken mod 32): silently wrong. `ibis.literal(1).cast("int64") << k`
    compiles to CAST(1 AS BIGINT) and is right on both. DuckDB has its own traps: `1 << 40`
    on an uncast literal and any left shift of a negative number raise "Out of Range".
    `(ibis.literal(2, "int64") ** k).cast("int64")` is POW in double on both, exact for
    powers of two (checked up to 2**62). Arithmetic with an int64 COLUMN is bigint on both;
    `ibis.literal(2**31 - 1) + 1` overflows (int32) on both.
 4. bit_or / bit_and / bit_xor aggregates are not compiled by Ibis 12 on pyspark
    (OperationNotDefinedError). Spark SQL and DuckDB both have the functions, so a builtin
    UDAF works on both (exact to 63 bits; SQLite has none):
        @ibis.udf.agg.builtin(name="bit_or")
        def bit_or(x: dt.int64) -> dt.int64: ...
    Summing distinct single bits (attribution.coalitions) works everywhere. Bitwise &, |, ^
    and >> between bigints agree on both.
 5. Division. `a / b` on integers is a double on both. `a // b` is CAST(FLOOR(a / b) AS
    BIGINT) on both: through a double, so exact only while |a| < 2**53 — (2**60 + 7) // 2
    gives 2**59 and even (2**53 + 1) // 1 gives 2**53, on both engines. `%` stays exact and
    takes the sign of the dividend on both (-7 % 2 = -1); `a >> k` is an exact floor
    division by 2**k. Division by zero: Spark (ANSI) raises DIVIDE_BY_ZERO for /, // and %;
    DuckDB returns +inf for /, raises for %, fails casting inf for //. Portable:
    `a / b.nullif(0)` (NULL on both), or `ibis.ifelse(b == 0, ibis.null(), a / b)`.
 6. Narrower raw types on Spark: row_number, rank, dense_rank, ntile, day_of_week, year(),
    month() (and year*100 + month), array length and CASE on small literals are int32;
    sign() of an integer is a double; approx_median of integers is an int64 element where
    DuckDB interpolates a double. to_arrow / to_pyarrow cast to the Ibis type, so this only
    shows in raw SQL or Spark DataFrames.
 7. Decimals. Spark keeps its own scales: the mean of a decimal(12,2) is decimal(16,6)
    (4.453333) and decimal / 3 is decimal(16,6); DuckDB's mean comes back at Ibis's
    decimal(12,2) (4.45) and decimal / int is a double. Casting Spark's wider scale to the
    Ibis type raises "Rescaling Decimal value would cause data loss". Portable:
    `.cast("float64")` before mean or division, or money in integer cents. sum() agrees
    (decimal(22,2) on Spark, decimal(38,2) on DuckDB, same values).
 8. Rounding agrees: half away from zero on both (2.5 -> 3, -2.5 -> -3, 0.25 -> 0.3 at one
    digit, 1.005 -> 1.01), unlike Python's round(2.5) == 2. Write expected values so.
 9. NaN. On Spark, Ibis compiles `x.isnull()` of a float as `x IS NULL OR isnan(x)` (NaN
    counts as null) and isnan(NULL) is false; on DuckDB NaN is not null and isnan(NULL) is
    NULL, so `~x.isnan()` keeps null rows on Spark and drops them on DuckDB. ln(-0.5) is
    NULL on Spark, NaN on DuckDB; NaN cast to decimal is NULL on Spark, an error on DuckDB.
    Keep NaN out of handed-over data.
10. Sorting agrees: Ibis writes NULLS LAST explicitly for Spark, so ascending, descending,
    `nulls_first=True`, window ORDER BY and string order (bytes: "B" < "a" < "z" < "ä")
    match. Without order_by rows come back in any order (a create_table round trip came
    back shuffled); give every window ORDER BY that can tie a tie-breaker (e.g. the id).
11. first()/last() as window functions: Spark compiles FIRST/LAST ... IGNORE NULLS, DuckDB
    FIRST_VALUE/LAST_VALUE keep nulls, so a trailing null differs (Spark 2.25, DuckDB NULL).
    lag/lead/row_number agree. Order-sensitive aggregates (`x.first(order_by=...)`,
    `x.collect(order_by=...)`) are refused on pyspark (UnsupportedOperationError): use
    `x.argmin(key)` / `x.argmax(key)` (MIN_BY / MAX_BY, same on both) and `.collect().sort()`.
12. collect() drops nulls on both, in no set order. A group whose values are all null (or
    an empty table) collects [] on Spark but NULL on DuckDB.
13. String concat: `a + "-" + b` is CONCAT on Spark and || on DuckDB; both give NULL if a
    part is NULL. `.fill_null("")` the parts that may be missing.
14. Casts to string differ: NaN -> 'NaN' (Spark) / 'nan'; a timestamp -> '2026-03-01
    12:00:00.9' (Spark) / '2026-03-01 12:00:00.9+00' (DuckDB). Never key on them.
15. Missing on pyspark in Ibis 12: `ts.bucket(...)` (TimestampBucket), the bit_* aggregates
    (4), ordered aggregates (11). hash() exists on both but differs (Spark: 32-bit murmur3).
16. `ts - ts` intervals come back as Arrow durations from Spark but fail to convert from
    DuckDB (month_day_nano); use `ts.delta(other, unit="second")` (DATEDIFF / DATE_DIFF,
    equal after 1970) or integer seconds.
17. `ibis.memtable(...)` inside an expression is registered through pandas (the float64
    loss above). `expr.cache()` on Spark does not register memtables at all and fails with
    TABLE_OR_VIEW_NOT_FOUND; `to_arrow` and `to_pyarrow` do register them. Hand lookup
    tables over with `hand_over` instead.
18. A window without group_by (`dense_rank().over(order_by=...)` on a whole table) moves
    every row into one Spark partition: fine in tests, slow on real data.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import tempfile
import threading
from functools import cache
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession

MISSING = "Spark needs the spark extra: pip install 'truce[spark]'"
MASTER_ENV = "TRUCE_SPARK_MASTER"
LOCAL_MASTER = "local[2]"
# The JVM's heap in local mode, where it runs the executors too: Spark's own 1g runs out
# ("Java heap space") ordering 10,000,000 journeys from a file. $TRUCE_SPARK_MEMORY sets it
# (Spark's size syntax: 512m, 4g); a cluster's memory is the cluster's own settings.
MEMORY_ENV = "TRUCE_SPARK_MEMORY"
LOCAL_MEMORY = "4g"

LOG4J2 = """\
rootLogger.level = error
rootLogger.appenderRef.stderr.ref = stderr
appender.stderr.type = Console
appender.stderr.name = stderr
appender.stderr.target = SYSTEM_ERR
appender.stderr.layout.type = PatternLayout
appender.stderr.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
"""

_lock = threading.Lock()
_session: SparkSession | None = None


def pyspark_available() -> bool:
    """Whether pyspark can be imported here (the spark extra is installed)."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return False
    return True


def java_available() -> bool:
    """Whether a `java` is where PySpark looks for it: $JAVA_HOME/bin, else the PATH."""
    home = os.environ.get("JAVA_HOME")
    if home:
        return os.access(os.path.join(home, "bin", "java"), os.X_OK)
    return shutil.which("java") is not None


def use_master(url: str | None) -> None:
    """Run Spark at `url` (local[N], spark://…, sc://… for Spark Connect) from the next session on;
    None leaves $TRUCE_SPARK_MASTER or local[2]. A process already running a session keeps it."""
    if url is None:
        return
    if not (url.startswith(("local", "spark://", "sc://", "yarn", "k8s://", "mesos://"))):
        raise ValueError(f"not a Spark master URL: {url!r}; use local[2], spark://host:7077 or sc://host:15002")
    os.environ[MASTER_ENV] = url


def spark_session() -> SparkSession:
    """The process's SparkSession, built on first use with truce's settings (see the module doc)."""
    global _session
    with _lock:
        if _session is not None and not _stopped(_session):
            return _session
        try:
            from pyspark.sql import SparkSession
        except ImportError as exc:
            raise ImportError(MISSING) from exc
        master = os.environ.get(MASTER_ENV) or LOCAL_MASTER
        if master.startswith("sc://"):
            _session = _connect_session(master)
            return _session
        local = master.startswith("local")
        if local and not java_available():
            raise RuntimeError("Spark needs Java 17: no java in $JAVA_HOME/bin or on the PATH")
        scratch = tempfile.mkdtemp(prefix="truce-spark-")
        atexit.register(shutil.rmtree, scratch, ignore_errors=True)
        log_config = os.path.join(scratch, "log4j2.properties")
        with open(log_config, "w", encoding="utf-8") as out:
            out.write(LOG4J2)
        settings = {
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.sql.session.timeZone": "UTC",
            # A fresh warehouse per session: a reused one fails with LOCATION_ALREADY_EXISTS.
            "spark.sql.warehouse.dir": os.path.join(scratch, "warehouse"),
            "spark.sql.execution.arrow.pyspark.enabled": "true",
            # Errors only, from the JVM's start on (setLogLevel below only acts once it runs).
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{log_config}",
        }
        if local:
            settings["spark.driver.memory"] = _memory()
            # A cluster's executors must reach the driver, so only a local driver stays on loopback.
            settings["spark.driver.host"] = "127.0.0.1"
            settings["spark.driver.bindAddress"] = "127.0.0.1"
            # Read by the JVM at start; spares the "hostname resolves to a loopback address" warning.
            os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = SparkSession.builder.master(master).appName("truce")
        for key, value in settings.items():
            builder = builder.config(key, value)
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
        # PySpark also logs every failed query as JSON before raising it; the exception is enough.
        for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        _session = session
        return session


def _memory() -> str:
    memory = os.environ.get(MEMORY_ENV, "").strip().lower() or LOCAL_MEMORY
    if not re.fullmatch(r"[1-9][0-9]*[kmgt]", memory):
        raise ValueError(f"{MEMORY_ENV}={memory!r} is not a size such as 512m or 4g")
    return memory


def _connect_session(url: str):
    """A Spark Connect session on the server at `url`: this process runs no JVM; the server reads
    the files and computes. Needs pyspark's connect extra (grpcio)."""
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession
    except ImportError as exc:
        raise ImportError(f"Spark Connect ({url}) needs pyspark's connect extra: pip install 'pyspark[connect]'") from exc
    session = ConnectSession.builder.remote(url).getOrCreate()
    session.conf.set("spark.sql.session.timeZone", "UTC")  # UTC months and days, as everywhere in truce
    return session


def spark_connection():
    """An Ibis connection (pyspark backend) on the shared session. Don't disconnect it."""
    return ibis.pyspark.connect(spark_session())


def hand_over(con, name: str, table: pa.Table) -> ir.Table:
    """Create or replace the temp view `name` on a Spark connection from an Arrow table.

    The Arrow goes to Spark as Arrow (not through pandas), so int64 stays int64 and exact
    and every timestamp becomes a Spark TIMESTAMP in UTC.
    """
    session = _session_of(con)
    session.createDataFrame(table).createOrReplaceTempView(name)
    return con.table(name)


def read_parquet(con, name: str, path: str) -> ir.Table:
    """Create or replace the temp view `name` on a Spark connection over a Parquet file or folder.

    Spark's executors read the file themselves: no row passes through this Python process.
    """
    _session_of(con).read.parquet(path).createOrReplaceTempView(name)
    return con.table(name)


class ParquetViews:
    """A folder of `<table>.parquet` files as Spark views (`read_parquet`), opened on first use and
    named by the folder, so that two folders read in one Spark session never mix."""

    def __init__(self, con, folder) -> None:
        import hashlib

        self.con, self.folder = con, folder
        self.prefix = "truce_" + hashlib.sha256(str(folder).encode()).hexdigest()[:12]

    def table(self, name: str) -> ir.Table:
        return read_parquet(self.con, f"{self.prefix}_{name}", str(self.folder / f"{name}.parquet"))


def kept(expr: ir.Table) -> ir.Table:
    """`expr.cache()`, computed once and kept by the engine — except on Spark Connect, where
    Ibis 12's cache fails (it asserts `is_cached` before the server has run anything): there the
    expression is returned as it is, and the server computes it again where it is reused.
    Give what this returns to `let_go` when done."""
    con = expr._find_backend(use_default=True)
    if con.name == "pyspark" and _is_connect(_session_of(con)):
        return expr
    return expr.cache()


def let_go(table: ir.Table) -> None:
    """Release what `kept` cached (nothing to do for an expression it left as it was)."""
    if isinstance(table, ir.CachedTable):
        table.release()


def _is_connect(session) -> bool:
    return type(session).__module__.startswith("pyspark.sql.connect")


def to_arrow(expr: ir.Expr) -> Any:
    """The result of an Ibis expression as Arrow (a table, array or scalar, as `to_pyarrow`).

    On Spark this reads `DataFrame.toArrow()` instead of Ibis's pandas round trip, so int64
    columns with nulls stay exact above 2**53 and timestamps keep tz=UTC; each column is cast
    to the type Ibis promised (Spark's int32 counters become int64). Any other backend:
    `expr.to_pyarrow()`.
    """
    con = expr._find_backend(use_default=True)
    if con.name == "duckdb":
        return _duckdb_arrow(con, expr)
    if con.name != "pyspark":
        return expr.to_pyarrow()
    import pyarrow as pa

    table_expr = expr.as_table()
    con._run_pre_execute_hooks(table_expr)  # registers memtables and UDFs the expression uses
    got = _session_of(con).sql(con.compile(table_expr)).toArrow()
    arrays, fields = [], []
    for column, (name, dtype) in zip(got.columns, table_expr.schema().items(), strict=True):
        want = dtype.to_pyarrow()
        if pa.types.is_timestamp(want) and pa.types.is_timestamp(column.type):
            want = column.type  # Ibis says naive; Spark's TIMESTAMP is an instant, read in UTC
        arrays.append(column if column.type == want else column.cast(want))
        fields.append(pa.field(name, want))
    result = pa.Table.from_arrays(arrays, schema=pa.schema(fields))
    if isinstance(expr, ir.Table):
        return result
    if isinstance(expr, ir.Scalar):
        return result.column(0)[0]
    return result.column(0)


def _duckdb_arrow(con, expr: ir.Expr) -> Any:
    """`expr.to_pyarrow()` on DuckDB without the module Ibis reads the result with: that module
    also defines Ibis's pandas reader, so it imports pandas, 0.8 s of every report's start."""
    try:
        relation = con._to_duckdb_relation(expr)  # Ibis 12: memtables registered, SQL compiled
    except AttributeError:  # an Ibis that reads results another way
        return expr.to_pyarrow()
    return expr.__pyarrow_result__(relation.to_arrow_table(), data_mapper=_arrow_reader())


@cache
def _arrow_reader():
    """Ibis's Arrow reader, with DuckDB's NULL-typed columns read as nulls of the promised length."""
    import pyarrow as pa
    from ibis.formats.pyarrow import PyArrowData

    class DuckDBArrow(PyArrowData):
        @classmethod
        def convert_scalar(cls, scalar, dtype):
            return pa.scalar(None) if dtype.is_null() else super().convert_scalar(scalar, dtype)

        @classmethod
        def convert_column(cls, column, dtype):
            return pa.nulls(len(column)) if dtype.is_null() else super().convert_column(column, dtype)

    return DuckDBArrow


def _session_of(con) -> SparkSession:
    if con.name != "pyspark":
        raise ValueError(f"expected a Spark (pyspark) connection, got {con.name}")
    return con._session  # Ibis 12 keeps the SparkSession here; there is no public accessor


def _stopped(session) -> bool:
    if _is_connect(session):
        return session.is_stopped  # Spark Connect: no SparkContext in this process
    context = session.sparkContext
    return context._jsc is None
