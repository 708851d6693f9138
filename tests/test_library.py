"""truce as a library: `truce.open(url)` answers each report with the numbers the CLI prints.

On one demo store per backend (SQLite and PostgreSQL), every method of the library is run
beside its CLI command with --json: the two must be equal to the last digit, since both call
the same service function. Then the tables: each converts to Arrow, pandas and polars with its
rows and column names intact; the won revenue is checked against a plain SQL sum; and
`truce.attribution` credits a table of journeys worked out by hand, from pandas, polars and
Arrow alike, as `truce attribution --from-file` does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import text
from test_attribution_store import fresh_store
from typer.testing import CliRunner

import truce
from truce import config as truce_config
from truce.cli import app as cli
from truce.services import demo
from truce.services.logins import add_user
from truce.services.survey import record_response

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
AT = "2026-11-20T12:00:00+00:00"
DAY = "2026-11-20"
# Ibis's own pandas and DuckDB calls warn about deprecations that are not ours to fix.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:The 'future.infer_string'")

# (what the notebook calls, the CLI command line that prints the same JSON, the key of a list
# report whose --json is that bare list)
CALLS = [
    (lambda s: s.funnel(by="channel", start="2026-01-01", end="2026-06-30"),
     ["funnel", "--by", "channel", "--from", "2026-01-01", "--to", "2026-06-30"], None),
    (lambda s: s.handoff_queue(at=AT), ["handoff", "queue", "--at", AT], "leads"),
    (lambda s: s.sla(at=AT), ["sla", "--at", AT], None),
    (lambda s: s.custody(at=AT), ["custody", "--at", AT], None),
    (lambda s: s.attribution(model="markov", by="team"), ["attribution", "--model", "markov", "--by", "team"], None),
    (lambda s: s.roi(by="campaign", model="linear"), ["roi", "--by", "campaign", "--model", "linear"], None),
    (lambda s: s.budget(what_if="paid_search:-20%,webinar:+20%"),
     ["budget", "--what-if", "paid_search:-20%,webinar:+20%"], None),
    (lambda s: s.pricing(start="2026-01-01"), ["pricing", "--from", "2026-01-01"], None),
    (lambda s: s.credit(model="w_shaped", pool=100000), ["credit", "--model", "w_shaped", "--pool", "100000"], None),
    (lambda s: s.targets(at=DAY), ["target", "--at", DAY], None),
    (lambda s: s.metrics(start="2026-07-01", end="2026-09-30"),
     ["metrics", "--from", "2026-07-01", "--to", "2026-09-30"], None),
    (lambda s: s.directory(team="marketing"), ["directory", "--team", "marketing"], "people"),
    (lambda s: s.survey("2026-Q4"), ["survey", "report", "--round", "2026-Q4"], None),
    (lambda s: s.feedback_themes(start="2025-01-01", end="2026-12-31"),
     ["feedback", "themes", "--from", "2025-01-01", "--to", "2026-12-31"], None),
    (lambda s: s.brief(period="2026-W40", at=DAY), ["brief", "--period", "2026-W40", "--at", DAY], None),
]  # fmt: skip
NAMES = [
    command[0] if command[0] not in ("handoff", "survey", "feedback") else " ".join(command[:2])
    for _, command, _ in CALLS
]
TAKES_NO_CONFIG = {"directory", "feedback"}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store(request, tmp_path_factory, sqlite_template, postgres_template):
    """A demo store (with two survey answers) on each backend, its URL and its truce.toml."""
    config_file = tmp_path_factory.mktemp("library") / "truce.toml"
    config_file.write_text(truce_config.default_text(), encoding="utf-8")
    with fresh_store(request.param, tmp_path_factory, sqlite_template, postgres_template) as engine:
        demo.build(engine, contacts=200, seed=3, config=CONFIG)
        for number, (email, team) in enumerate((("s1@yourco.example", "sales"), ("m1@yourco.example", "marketing"))):
            add_user(engine, email=email, team=team)
            record_response(
                engine, round_name="2026-Q4", respondent_email=email, team=team, role="staff", ratings=[3 + number] * 20
            )
        url = engine.url.render_as_string(hide_password=False)
        with truce.open(url, config=config_file) as opened:
            yield opened, url, str(config_file)


@pytest.fixture(scope="module")
def answers(store):
    """Each report, once per store: (the library's report, the CLI's JSON)."""
    opened, url, config_file = store
    found = {}
    for name, (call, command, _) in zip(NAMES, CALLS, strict=True):
        options = ["--db", url] + ([] if command[0] in TAKES_NO_CONFIG else ["--config", config_file])
        result = CliRunner().invoke(cli, [*command, *options, "--json"])
        assert result.exit_code == 0, f"{name}: {result.output}"
        found[name] = (call(opened), json.loads(result.stdout))
    return found


@pytest.mark.parametrize("name", NAMES)
def test_it_answers_each_report_with_the_numbers_of_the_clis_json(answers, name):
    report, printed = answers[name]
    (listed,) = [key for n, (_, _, key) in zip(NAMES, CALLS, strict=True) if n == name]
    mine = report.to_dict()
    assert (mine[listed] if listed else mine) == printed
    assert printed, f"{name}: the demo gave an empty report, which proves nothing"


def test_it_returns_the_typed_report_models_the_api_answers_with(answers):
    from truce.reports import models

    report, _ = answers["attribution"]
    assert isinstance(report, models.AttributionReport)
    assert isinstance(answers["funnel"][0], models.FunnelReport)
    assert isinstance(answers["brief"][0], models.Brief)


@pytest.mark.parametrize("name", NAMES)
def test_it_keeps_rows_and_column_names_in_arrow_pandas_and_polars(answers, name):
    report, _ = answers[name]
    assert report.tables()[0] == report.main_table
    for table in report.tables():
        rows = report.records(table)
        columns = list(dict.fromkeys(key for row in rows for key in row))
        arrow = report.to_arrow(table)
        assert (arrow.num_rows, arrow.column_names) == (len(rows), columns or arrow.column_names), table
        frame = report.to_pandas(table)
        assert (len(frame), list(frame.columns)) == (len(rows), arrow.column_names), table
        polars = report.to_polars(table)
        assert (polars.height, polars.columns) == (len(rows), arrow.column_names), table


def test_it_credits_the_won_revenue_a_plain_sql_sum_gives(store, answers):
    opened, _, _ = store
    with opened.engine.connect() as conn:
        deals, won = conn.execute(
            text(
                "SELECT count(*), sum(amount) FROM opportunities "
                "WHERE status = 'won' AND close_date IS NOT NULL AND deleted_at IS NULL"
            )
        ).one()
        amounts = dict(
            conn.execute(text("SELECT id, amount FROM opportunities WHERE status = 'won' AND deleted_at IS NULL")).all()
        )
    report, _ = answers["credit"]
    assert (report.deals, report.won_revenue) == (deals, Decimal(won))
    # The ledger's rows, as a data frame: the credit of each deal's people adds up to its amount.
    ledger = report.to_pandas("rows")
    people = ledger[ledger["by"] == "user"].groupby("deal_id")["revenue_credit"].sum()
    assert len(people) > 0
    for deal_id, credited in people.items():
        assert credited == Decimal(amounts[deal_id]), deal_id


def test_it_keeps_money_exact_and_dates_typed_in_the_tables(answers):
    report, _ = answers["target"]
    arrow = report.to_arrow()
    assert pa.types.is_decimal(arrow.schema.field("amount").type)
    assert pa.types.is_date(arrow.schema.field("period_start").type)


# ---- opening a store --------------------------------------------------------------------------------


def test_it_opens_the_store_the_cli_would_from_the_environment(store, tmp_path, monkeypatch):
    opened, url, config_file = store
    monkeypatch.setenv("TRUCE_DATABASE_URL", url)
    monkeypatch.setenv("TRUCE_CONFIG", config_file)
    monkeypatch.chdir(tmp_path)
    with truce.open() as again:
        assert again.engine.url == opened.engine.url
        assert len(again.directory().people) == len(opened.directory().people)


def test_it_refuses_a_sqlite_file_that_is_not_there_without_creating_it(tmp_path):
    missing = tmp_path / "nothing.db"
    with pytest.raises(FileNotFoundError, match="no truce database at .*nothing.db"):
        truce.open(missing)
    assert not missing.exists()


def test_it_names_the_argument_of_a_bad_date(store):
    opened, _, _ = store
    with pytest.raises(ValueError, match=r"^start: '2026-13-01' is not a date"):
        opened.funnel(start="2026-13-01")
    with pytest.raises(ValueError, match=r"^at: 'yesterday' is not a moment"):
        opened.sla(at="yesterday")
    with pytest.raises(ValueError, match=r"^end: 3001-01-01 is outside the calendar"):
        opened.pricing(end="3001-01-01")


def test_it_names_the_table_a_report_does_not_have(answers):
    report, _ = answers["attribution"]
    with pytest.raises(KeyError, match="no table 'channels'; it has: credits"):
        report.to_arrow("channels")


def test_it_says_how_to_install_polars_when_it_is_missing(answers, monkeypatch):
    report, _ = answers["attribution"]
    monkeypatch.setitem(sys.modules, "polars", None)
    with pytest.raises(ImportError, match=r"to_polars\(\) needs polars, which is not installed: pip install polars"):
        report.to_polars()


def test_it_keeps_import_truce_cheap():
    src = str(Path(truce.__file__).parent.parent)
    probe = "import sys, truce; print(sorted(m for m in ('truce.library', 'pydantic', 'pyarrow', 'sqlalchemy', 'typing') if m in sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env={"PYTHONPATH": src}
    )
    assert loaded.stdout.strip() == "[]"


# ---- attribution of a table of journeys -------------------------------------------------------------

# Three journeys, worked by hand:
#   1: paid_search (Mar 1), email (Mar 3), converted, revenue 100
#   2: email (Mar 2), converted, revenue 50
#   3: paid_search (Mar 4), not converted
# linear: journey 1 gives each channel half of 1 conversion and of 100; journey 2 all to email.
#   paid_search 0.5 conversions, 50 revenue; email 1.5 conversions, 100 revenue; 2 and 150 in all.
# first_touch: paid_search 1 and 100 (journey 1); email 1 and 50 (journey 2).
JOURNEYS = {
    "journey_id": [1, 1, 2, 3],
    "timestamp": ["2026-03-01T09:00:00Z", "2026-03-03T09:00:00Z", "2026-03-02T09:00:00Z", "2026-03-04T09:00:00Z"],
    "channel": ["paid_search", "email", "email", "paid_search"],
    "converted": [True, True, True, False],
    "revenue": [100.0, 100.0, 50.0, 0.0],
}


def frames():
    import pandas as pd
    import polars as pl

    table = pa.table(JOURNEYS)
    pandas = pd.DataFrame(JOURNEYS)
    pandas["timestamp"] = pd.to_datetime(pandas["timestamp"])
    return {"arrow": table, "pandas": pandas, "polars": pl.DataFrame(JOURNEYS)}


@pytest.mark.parametrize("kind", ["arrow", "pandas", "polars"])
def test_it_credits_a_data_frame_of_journeys_as_worked_by_hand(kind):
    credit = truce.attribution(frames()[kind], model="linear")
    assert (credit.total_conversions, credit.total_revenue) == (2, 150)
    assert [(c.channel, c.conversions, c.revenue) for c in credit.channels] == [
        ("email", 1.5, 100.0),
        ("paid_search", 0.5, 50.0),
    ]
    first = truce.attribution(frames()[kind], model="first_touch").to_pandas()
    assert dict(zip(first["channel"], zip(first["conversions"], first["revenue"], strict=True), strict=True)) == {
        "paid_search": (1.0, 100.0),
        "email": (1.0, 50.0),
    }


def test_it_credits_a_data_frame_as_the_cli_credits_the_same_file(tmp_path):
    path = tmp_path / "journeys.csv"
    frames()["pandas"].to_csv(path, index=False)
    result = CliRunner().invoke(cli, ["attribution", "--from-file", str(path), "--model", "shapley", "--json"])
    assert result.exit_code == 0, result.output
    assert truce.attribution(frames()["polars"], model="shapley").to_dict() == json.loads(result.stdout)
    assert truce.attribution(path, model="shapley").to_dict() == json.loads(result.stdout)


def test_it_names_the_column_and_row_of_a_bad_journey():
    bad = dict(JOURNEYS, revenue=[100.0, 100.0, -5.0, 0.0])
    with pytest.raises(ValueError, match=r"^journeys, row 3, column revenue: '-5.0' is not a number, 0 or more"):
        truce.attribution(pa.table(bad), model="linear")
    with pytest.raises(TypeError, match="journeys must be a pandas or polars DataFrame"):
        truce.attribution([1, 2, 3])


# ---- the documentation ----------------------------------------------------------------------------


def test_it_documents_every_public_name_with_an_example():
    doc = (Path(__file__).parent.parent / "docs" / "library.md").read_text(encoding="utf-8")
    examples = "\n".join(part.split("```", 1)[0] for part in doc.split("```python")[1:])
    for name in truce.PUBLIC:
        assert f"truce.{name}" in doc, name
    methods = [m for m in vars(truce.Truce) if not m.startswith("_") and callable(getattr(truce.Truce, m))]
    assert len(methods) >= 16
    for method in methods:
        assert f"`store.{method}(" in doc or f"store.{method}()" in doc, method
        assert f"store.{method}(" in examples, f"store.{method} has no example"
    from truce.library import Tables

    for method in [m for m in vars(Tables) if not m.startswith("_") and callable(getattr(Tables, m))]:
        assert f"report.{method}(" in doc and f".{method}(" in examples, method
