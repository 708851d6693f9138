"""Rebuild examples/journeys.parquet from examples/journeys.csv (the same rows, typed).

The README's `truce attribution --from-file examples/journeys.parquet` reads the Parquet file;
tests/test_readme_tour.py checks that it still holds exactly the rows of the CSV.

Run:  python examples/make_journeys_parquet.py
"""

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

HERE = Path(__file__).parent
SCHEMA = pa.schema(
    [
        ("journey_id", pa.int64()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("channel", pa.string()),
        ("converted", pa.bool_()),
        ("revenue", pa.float64()),
    ]
)


def journeys_table() -> pa.Table:
    """The CSV's rows with the Parquet file's types."""
    options = pacsv.ConvertOptions(column_types=SCHEMA)
    return pacsv.read_csv(HERE / "journeys.csv", convert_options=options).select(SCHEMA.names)


if __name__ == "__main__":
    pq.write_table(journeys_table(), HERE / "journeys.parquet")
