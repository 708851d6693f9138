"""What a report command loads before it answers: the heavy modules it does not need stay out.

pandas (0.5 s: pyarrow loads it to build or read arrays, Ibis to read DuckDB's results), alembic
(0.3 s: the schema check) and pyarrow's CSV reader were in every report's start at 100,000
contacts (docs/performance.md). A change that brings one back fails here, not in a benchmark."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from truce.analytics.copy import open_copy
from truce.services import demo
from truce.store import db

HEAVY = ("pandas", "alembic", "pyarrow.csv")
LOADED = """
import sys
from truce.cli import main
sys.argv = ["truce", *sys.argv[1:]]
try:
    main()
finally:
    sys.stderr.write("LOADED " + " ".join(sorted(m for m in {heavy!r} if m in sys.modules)) + "\\n")
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("startup") / "demo.db"
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=300, seed=3)
    # The first report after a write builds the analytical copy (from SQLite's rows, through
    # pyarrow and so pandas); what is held to account here is a report on a current copy.
    open_copy(engine).close()
    return str(path)


@pytest.mark.parametrize(
    "report",
    [
        ["funnel", "--from", "2024-01-01"],
        ["attribution", "--from", "2024-01-01"],
        ["credit", "--from", "2024-01-01"],
        ["target"],
        ["custody"],
        ["sla"],
    ],
    ids=lambda report: report[0],
)
def test_a_report_answers_without_loading_pandas_alembic_or_the_csv_reader(store, report):
    done = subprocess.run(
        [sys.executable, "-c", LOADED.format(heavy=HEAVY), *report, "--json", "--db", store],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    json.loads(done.stdout)  # it answered
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED")]
    assert loaded == ["LOADED "], f"{report[0]} loaded {loaded}"
