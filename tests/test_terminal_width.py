"""Every report reads whole in an 80-column terminal (and at 120): no value cut, no "…" in a
cell, columns left out by priority and named under the table, --wide shows them all; help text
is wrapped by the terminal and flags read as flags."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3

import pytest
from rich.table import Table
from rich.text import Text
from typer.testing import CliRunner

from truce.cli import app, common
from truce.services import demo
from truce.store import db

runner = CliRunner()

# Every read-only report the demo can answer, as a person would type it (without --db).
REPORTS = [
    ["accounts", "plans"],
    ["attribution"],
    ["budget"],
    ["credit"],
    ["custody"],
    ["directory"],
    ["discounts"],
    ["feedback", "list"],
    ["feedback", "themes"],
    ["funnel"],
    ["funnel", "--by", "channel"],
    ["handoff", "queue"],
    ["lead", "show", "ann.fischer@acme.example"],
    ["meeting", "show", "--period", "2026-W46"],
    ["score", "explain", "ann.fischer@acme.example"],
    ["survey", "report"],
    ["initiatives"],
    ["metrics"],
    ["notifications", "list"],
    ["pricing"],
    ["roi"],
    ["sla"],
    ["status"],
    ["target", "backtest"],
    ["token", "list"],
]
BORDERS = "│┃┏┓┗┛┡┩┢┪┣┫┠┨┯┷┳┻╇╈╋╀╁╂┼━─═╍┄┈├┤┬┴└┘┌┐╭╮╯╰|"


@pytest.fixture(scope="module")
def demo_db(sqlite_template, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("terminal") / "demo.db"
    shutil.copy(sqlite_template, path)
    engine = db.connect(f"sqlite:///{path}")
    demo.build(engine, contacts=1500, seed=5)
    engine.dispose()
    return str(path)


@pytest.fixture
def terminal(monkeypatch):
    """Run a command in a terminal of a given width; returns the output and the tables it meant to show."""
    saved = common.console._width
    shown: list[tuple[Table, Table, list[str]]] = []
    fit = common.fit_table

    def recording(table, console, width):
        fitted, left_out = fit(table, console, width)
        shown.append((table, fitted, left_out))
        return fitted, left_out

    monkeypatch.setattr(common, "fit_table", recording)

    def run(args: list[str], width: int):
        shown.clear()
        common.console.width = width
        result = runner.invoke(app, args, catch_exceptions=False)
        return result, list(shown)

    yield run
    common.console._width = saved


def _plain(cell) -> str:
    if isinstance(cell, Text):
        return cell.plain
    if isinstance(cell, str):
        return Text.from_markup(cell).plain
    return ""


def _tokens(output: str) -> set[str]:
    return set(re.split(rf"[\s{re.escape(BORDERS)}]+", output)) - {""}


def _cells(table: Table, column) -> list[str]:
    return [_plain(column.header)] + [_plain(c) for c in column._cells]


def _check_whole(output: str, tables, width: int) -> None:
    lines = output.splitlines()
    too_long = [line for line in lines if len(line) > width]
    assert not too_long, f"lines wider than {width}: {too_long[:3]}"
    words = _tokens(output)
    meant = ""
    for original, _fitted, left_out in tables:
        kept = {id(c) for c in original.columns if _column_name(c) not in left_out}
        for column in original.columns:
            texts = _cells(original, column)
            meant += " ".join(texts) + " " + _plain(original.title or "")
            if id(column) not in kept:
                continue
            for text in texts:
                missing = [w for w in re.split(rf"[\s{re.escape(BORDERS)}]+", text) if w and w not in words]
                assert not missing, f"cut in column {column.header!r}: {text!r} (missing {missing})"
        if left_out:
            said = " ".join(output.split())
            assert f"Left out to fit {width} columns: {', '.join(left_out)}. --wide shows every column." in said
    # An ellipsis the report did not write itself is Rich cutting a value.
    assert output.count("…") <= meant.count("…"), "a value was cut with …"


def _column_name(column) -> str:
    return str(column.header).strip() or "the bar"


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("args", REPORTS, ids=[" ".join(a) for a in REPORTS])
def test_it_shows_every_value_of_a_report_whole(demo_db, terminal, args, width):
    result, tables = terminal([*args, "--db", demo_db], width)
    assert result.exit_code == 0, result.output
    _check_whole(result.output, tables, width)


@pytest.mark.parametrize("args", REPORTS, ids=[" ".join(a) for a in REPORTS])
def test_it_shows_every_column_with_wide(demo_db, terminal, args):
    result, tables = terminal([*args, "--db", demo_db, "--wide"], 80)
    assert result.exit_code == 0, result.output
    assert "Left out to fit" not in result.output
    words = _tokens(result.output)
    for table in (t for t, _, _ in tables):
        assert all(w in words for c in table.columns for w in _plain(c.header).split())


def _json(terminal, args, demo_db):
    result, _ = terminal([*args, "--db", demo_db, "--json"], 80)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_it_shows_every_email_and_name_of_the_directory_at_80_columns(demo_db, terminal):
    people = _json(terminal, ["directory"], demo_db)
    result, _ = terminal(["directory", "--db", demo_db], 80)
    words = _tokens(result.output)
    with sqlite3.connect(demo_db) as con:
        assert len(people) == con.execute("SELECT count(*) FROM users").fetchone()[0]
    for person in people:
        assert person["user"] in words, person["user"]  # the email people pass to --as, whole
        assert all(part in words for part in person["name"].split()), person["name"]


def test_it_shows_the_money_of_roi_whole_at_80_columns(demo_db, terminal):
    data = _json(terminal, ["roi"], demo_db)
    result, _ = terminal(["roi", "--db", demo_db], 80)
    words = _tokens(result.output)
    rows = next(v for v in data.values() if isinstance(v, list) and v and "spend" in v[0])
    for row in rows:
        for key in ("spend", "revenue"):
            assert f"{row[key]:,.0f}" in words, (row["channel"], key, row[key])
    assert "revenue" in words and "spend" in words  # headers whole, not "reve…"


def test_it_shows_the_money_of_pricing_whole_at_80_columns(demo_db, terminal):
    data = _json(terminal, ["pricing"], demo_db)
    result, _ = terminal(["pricing", "--db", demo_db], 80)
    words = _tokens(result.output.replace(",", " , ").replace(" , ", ","))
    for row in data["by_rep"]:
        assert f"{row['realised_total']:,.0f}" in words, row
        assert f"{row['list_total']:,.0f}" in words, row


def test_it_shows_the_sellers_revenue_of_metrics_whole_at_80_columns(demo_db, terminal):
    data = _json(terminal, ["metrics"], demo_db)
    result, _ = terminal(["metrics", "--db", demo_db], 80)
    words = _tokens(result.output)
    for row in data["sellers"]:
        assert f"{row['won_revenue']:,.0f}" in words, row
        assert all(part in words for part in row["name"].split()), row


# ---- the fitting itself, on a table worked by hand -------------------------------------------------


def _wide_table() -> Table:
    table = Table("user", "name", "accounts", "key accounts", "campaigns")
    table.add_row("alejandro.zimmermann@truce-demo.example", "Alejandro Zimmermann", "12", "Acme Analytics", "3")
    return common.drop_first(table, "key accounts", "campaigns")


def test_it_leaves_out_the_columns_the_report_declared_first():
    from rich.console import Console

    console = Console(width=80)
    # The narrowest each column can be without cutting a word, padding (2) included: user 39 + 2
    # (an email does not break), name 10 + 2 ("Zimmermann"), accounts 8 + 2, key accounts 9 + 2
    # ("Analytics"), campaigns 9 + 2 = 85, and 6 borders: 91 > 80. Without key accounts, the first
    # declared: 74 + 5 borders = 79, which fits; campaigns stays.
    fitted, left_out = common.fit_table(_wide_table(), console, 80)
    assert left_out == ["key accounts"]
    assert [c.header for c in fitted.columns] == ["user", "name", "accounts", "campaigns"]
    console.begin_capture()
    console.print(fitted)
    lines = console.end_capture().splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("alejandro.zimmermann@truce-demo.example" in line for line in lines)


def test_it_keeps_a_table_that_fits_as_it_is():
    from rich.console import Console

    table = _wide_table()
    fitted, left_out = common.fit_table(table, Console(width=200), 200)
    assert fitted is table and left_out == []


# ---- help ----------------------------------------------------------------------------------------


def test_it_shows_boolean_flags_as_flags_in_help(terminal):
    result, _ = terminal(["import", "--help"], 100)
    assert "<bool>" not in result.output
    assert "--dry-run" in result.output and "--wide" in result.output


def test_it_lets_the_terminal_wrap_help_prose(terminal, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # help has its own console, sized by the terminal
    result, _ = terminal(["import", "--help"], 200)
    # The docstring breaks its lines near 90 characters; at 200 columns the paragraph is one line.
    assert any(
        "Reads truce's own columns" in line and "Every bad row is reported" in line
        for line in result.output.splitlines()
    ), result.output
    # The examples keep their own lines.
    assert any(line.strip() == "truce import accounts accounts.csv" for line in result.output.splitlines())


def test_it_reflows_prose_but_keeps_examples_and_lists():
    text = "First line.\n\nA paragraph broken\nat ninety characters.\n\nExample:  truce x\nExample:  truce y\n\n- one\n- two"
    assert common.reflow(text) == (
        "First line.\n\nA paragraph broken at ninety characters.\n\nExample:  truce x\nExample:  truce y\n\n- one\n- two"
    )
