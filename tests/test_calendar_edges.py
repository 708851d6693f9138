"""The edges of the calendar: every day, moment and period truce is given lies from 1900-01-01 to
2999-12-31 (truce.domain.calendar_range), and one beyond is refused — by the domain, the API (422
naming the field), the web pages (a refusal, never a 500), the CLI (one line, no traceback) and
the import files — while the first and last valid ones are accepted, for each kind of period.
"""

from __future__ import annotations

import calendar
import datetime as dt
import html
import re
from decimal import Decimal

import pytest
from conftest import writing
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

from truce import config as truce_config
from truce.cli import app as cli
from truce.domain import calendar_range, diagnostic, forecast
from truce.imports.service import ImportFailed, import_file
from truce.services import brief, demo, survey
from truce.services.logins import add_user, create_token
from truce.store import db
from truce.store.models import Contact, SurveyRound, Target
from truce.web.app import create_app
from truce.web.schemas import BRIEF_PERIOD_PATTERN, PERIOD_PATTERN

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
FIRST, LAST = dt.date(1900, 1, 1), dt.date(2999, 12, 31)

# (kind, first valid, last valid, one before, one after), for every kind of period.
EDGES = [
    ("year", "1900", "2999", "1899", "3000"),
    ("quarter", "1900-Q1", "2999-Q4", "1899-Q4", "3000-Q1"),
    ("month", "1900-01", "2999-12", "1899-12", "3000-01"),
    ("week", "1900-W01", "2999-W52", "1899-W52", "3000-W01"),
]
CALENDAR_PERIODS = [edge for edge in EDGES if edge[0] != "week"]  # what targets take
# The findings: each answered 500 or printed a traceback, or was kept.
OUTSIDE = "is outside the calendar truce accepts: days from 1900-01-01 to 2999-12-31, periods from 1900 to 2999"
FAR_PERIODS = ["0001", "0001-W01", "9999-W52", "9999-Q4", "0000", "0001-Q1"]


def valid(edge) -> list[str]:
    return [edge[1], edge[2]]


def beyond(edge) -> list[str]:
    return [edge[3], edge[4]]


# ---- the domain ----------------------------------------------------------------------------------


def test_the_range_runs_from_1900_to_2999():
    assert (calendar_range.FIRST_DAY, calendar_range.LAST_DAY) == (FIRST, LAST)


def test_it_accepts_the_first_and_last_day_and_refuses_the_days_beyond():
    assert calendar_range.check_day(FIRST) == FIRST and calendar_range.check_day(LAST) == LAST
    for day in (dt.date(1899, 12, 31), dt.date(3000, 1, 1), dt.date.min, dt.date.max):
        with pytest.raises(calendar_range.OutsideCalendar, match="1900-01-01 to 2999-12-31"):
            calendar_range.check_day(day)


def _span(kind: str, year: int, number: int) -> tuple[dt.date, dt.date]:
    """A period's first and last day, worked out without truce's parsers."""
    if kind == "year":
        return dt.date(year, 1, 1), dt.date(year, 12, 31)
    if kind == "quarter":
        return dt.date(year, 3 * number - 2, 1), dt.date(year, 3 * number, calendar.monthrange(year, 3 * number)[1])
    if kind == "month":
        return dt.date(year, number, 1), dt.date(year, number, calendar.monthrange(year, number)[1])
    monday = dt.date.fromisocalendar(year, number, 1)
    return monday, monday + dt.timedelta(days=6)


def _written(kind: str, year: int, number: int) -> str:
    return {"year": f"{year:04d}", "quarter": f"{year:04d}-Q{number}", "month": f"{year:04d}-{number:02d}"}.get(
        kind, f"{year:04d}-W{number:02d}"
    )


def _parse(text: str):
    found = brief.parse_period(text)
    return found.first_day, found.last_day


@pytest.mark.parametrize("kind", ["year", "quarter", "month", "week"])
def test_a_period_is_accepted_exactly_when_its_first_and_last_days_are_in_range(kind):
    numbers = {"year": [1], "quarter": [1, 4], "month": [1, 12], "week": [1, 52]}[kind]
    for year in [*range(1890, 1911), *range(2990, 3011), 1, 9998]:
        for number in numbers:
            first, last = _span(kind, year, number)
            text = _written(kind, year, number)
            if FIRST <= first and last <= LAST:
                assert _parse(text) == (first, last), text
            else:
                with pytest.raises(brief.BriefError, match="outside the calendar"):
                    _parse(text)


@pytest.mark.parametrize("text", ["0000", "0000-Q1", "0000-01", "0000-W01", "9999-12", "9999-W52", "9999-W53"])
def test_it_refuses_years_no_date_can_hold_or_none_it_accepts_without_overflowing(text):
    with pytest.raises(brief.BriefError, match="outside the calendar truce accepts"):
        brief.parse_period(text)


@pytest.mark.parametrize("edge", CALENDAR_PERIODS, ids=[e[0] for e in CALENDAR_PERIODS])
def test_target_periods_keep_to_the_range(edge):
    for text in valid(edge):
        forecast.parse_period(text)
    for text in beyond(edge):
        with pytest.raises(forecast.PeriodError, match="outside the calendar"):
            forecast.parse_period(text)


def test_explicit_first_and_last_days_keep_to_the_range():
    assert forecast.parse_period(start=FIRST, end=LAST) == forecast.Period(FIRST, LAST)
    for start, end in ((dt.date(1899, 12, 31), LAST), (FIRST, dt.date(3000, 1, 1))):
        with pytest.raises(forecast.PeriodOutsideCalendar):
            forecast.parse_period(start=start, end=end)


@pytest.mark.parametrize(
    ("text", "previous"), [("1900-W01", "1899-W52"), ("1900", "1899"), ("1900-Q1", "1899-Q4"), ("1900-01", "1899-12")]
)
def test_the_period_before_the_first_one_is_still_a_period_to_compare_with(text, previous):
    assert brief.parse_period(text).previous().label == previous


WON = forecast.Deal(
    id=1,
    amount=Decimal("1000.00"),
    status="won",
    created_at=dt.datetime(2026, 1, 10, tzinfo=dt.UTC),
    close_date=dt.date(2026, 2, 1),
    stage="closed_won",
)


def test_a_forecast_over_the_whole_range_does_not_step_out_of_the_calendar():
    # New business is averaged over four windows as long as the time left (973 years here):
    # three of them reach back before year 1, hold no deal, and still count in the average.
    found = forecast.forecast_revenue(
        [WON], forecast.Period(FIRST, LAST), dt.date(2026, 6, 30), frozenset({"closed_won"})
    )
    assert found.won_to_date == Decimal("1000.00")
    assert found.new_business == Decimal("250.00")


@pytest.mark.parametrize("as_of", [FIRST, LAST])
def test_a_forecast_as_of_either_edge_of_the_range_runs(as_of):
    found = forecast.forecast_revenue([WON], forecast.Period(FIRST, LAST), as_of, frozenset({"closed_won"}))
    assert found.won_to_date == (WON.amount if as_of == LAST else Decimal("0.00"))
    assert found.new_business == Decimal("0.00")  # nothing was won by 1900; by 2999 nothing is left


def test_survey_rounds_that_spell_a_period_keep_to_the_range():
    assert diagnostic.period_of("1900-H1") == (FIRST, dt.date(1900, 6, 30))
    assert diagnostic.period_of("2999-Q4") == (dt.date(2999, 10, 1), LAST)
    assert diagnostic.period_of("Autumn offsite") is None
    for name in ("1899-H2", "3000", "0000", "9999-Q4"):
        with pytest.raises(calendar_range.OutsideCalendar):
            diagnostic.period_of(name)


# ---- survey rounds, whose names may spell a period -------------------------------------------------


@pytest.fixture
def respondent(sqlite_engine):
    add_user(sqlite_engine, email="sam@yourco.example", team="sales")
    return sqlite_engine


@pytest.mark.parametrize("name", ["0001-Q1", "0000", "9999-Q4", "1899-H2", "3000"])
def test_it_refuses_a_round_that_spells_a_period_outside_the_range(respondent, name):
    with pytest.raises(survey.SurveyError, match="outside the calendar"):
        survey.record_response(
            respondent,
            round_name=name,
            respondent_email="sam@yourco.example",
            team="sales",
            role="staff",
            ratings=[3] * 20,
        )
    with respondent.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SurveyRound)).scalar_one() == 0


@pytest.mark.parametrize("name", ["1900-H1", "2999-Q4"])
def test_it_keeps_a_round_that_spells_the_first_or_last_period(respondent, name):
    kept = survey.record_response(
        respondent, round_name=name, respondent_email="sam@yourco.example", team="sales", role="staff", ratings=[3] * 20
    )
    assert kept["round"] == name


def test_a_survey_file_naming_a_round_outside_the_range_is_refused_by_line_and_column(respondent, tmp_path):
    path = tmp_path / "survey.csv"
    header = ",".join(["respondent", "team", "role", "round", *(f"s{n}" for n in range(1, 21))])
    path.write_text(f"{header}\nsam@yourco.example,sales,staff,9999-Q4,{','.join(['3'] * 20)}\n")
    with pytest.raises(survey.SurveyImportError) as refused:
        survey.import_responses(respondent, path)
    assert refused.value.problems == [f"{path}, line 2, column round: round 9999-Q4 {OUTSIDE}"]


def test_a_round_kept_before_the_range_was_checked_is_measured_like_a_plain_name(respondent):
    opened = dt.datetime(2026, 11, 20, 12, tzinfo=dt.UTC)
    with writing(respondent) as conn:
        conn.execute(insert(SurveyRound), {"name": "0000", "opened_at": opened})
    report = survey.survey_report(respondent, CONFIG, "0000", now=opened)
    assert report["period"] == {"from": "2026-08-23", "to": "2026-11-20"}  # the 90 days up to its opening


@pytest.mark.parametrize(("pattern", "kinds"), [(PERIOD_PATTERN, "yqm"), (BRIEF_PERIOD_PATTERN, "yqmw")])
def test_the_documented_patterns_take_every_period_the_range_holds_and_no_other_year(pattern, kinds):
    years = [f"{year:04d}" for year in range(10_000)]
    assert [y for y in years if re.fullmatch(pattern, y)] == [str(y) for y in range(1900, 3000)]
    suffixes = {"y": [""], "q": ["-Q1", "-q4"], "m": ["-01", "-12"], "w": ["-W01", "-W1", "-w52"]}
    for year in ("1900", "2026", "2999"):
        for suffix in (s for kind in kinds for s in suffixes[kind]):
            assert re.fullmatch(pattern, year + suffix), year + suffix
    refused = ["2026-Q5", "2026-13", "2026-W54", " 2026", "2026-Q4 ", "2026-H1"] + (
        ["2026-W47"] if "w" not in kinds else []
    )
    for text in refused:
        assert not re.fullmatch(pattern, text), text


# ---- the API -------------------------------------------------------------------------------------

DAY_EDGES = {"date": (["1900-01-01", "2999-12-31"], ["1899-12-31", "3000-01-01"]),
             "date-time": (["1900-01-01T00:00:00Z", "2999-12-31T23:59:59Z"],
                           ["1899-12-31T23:59:59Z", "3000-01-01T00:00:00Z"])}  # fmt: skip


OPENAPI = create_app(db.connect("sqlite://"), CONFIG).openapi()


def _dated_query_parameters() -> list[tuple[str, str, str]]:
    """(path, name, format) of every query parameter of the OpenAPI document that is a day or a moment."""
    found = []
    for path, operations in OPENAPI["paths"].items():
        for parameter in operations.get("get", {}).get("parameters", []):
            branches = parameter["schema"].get("anyOf", [parameter["schema"]])
            formats = {b.get("format") for b in branches} & set(DAY_EDGES)
            if parameter["in"] == "query" and formats:
                found.append((path, parameter["name"], formats.pop()))
    return found


DATED = _dated_query_parameters()


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    """A small demo company; ria (revops) is the client's caller, sam (sales) answers the survey."""
    engine = db.connect(f"sqlite:///{tmp_path_factory.mktemp('edges') / 'demo.db'}")
    demo.build(engine, contacts=80, seed=5, config=CONFIG)
    add_user(engine, email="ria@yourco.example", team="revops", password="edges of the calendar")
    add_user(engine, email="sam@yourco.example", team="sales")
    app = create_app(engine, CONFIG)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        client.headers["authorization"] = f"Bearer {create_token(engine, email='ria@yourco.example')}"
        client.seller = {"authorization": f"Bearer {create_token(engine, email='sam@yourco.example')}"}
        yield client, engine
    engine.dispose()


def refused_at(response, path: str) -> str:
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert [e["path"] for e in errors] == [path], errors
    return errors[0]["message"]


@pytest.mark.parametrize("route", ["brief", "targets"])
@pytest.mark.parametrize("period", FAR_PERIODS)
def test_a_report_refuses_a_far_period_with_a_422_naming_it(api, route, period):
    client, _ = api
    message = refused_at(client.get(f"/api/v1/reports/{route}", params={"period": period}), "query.period")
    assert period in message


@pytest.mark.parametrize("edge", EDGES, ids=[e[0] for e in EDGES])
def test_the_brief_takes_the_first_and_last_period_of_each_kind_and_refuses_the_ones_beyond(api, edge):
    client, _ = api
    first, last = valid(edge)
    assert client.get("/api/v1/reports/brief", params={"period": first}).status_code == 200
    not_yet = client.get("/api/v1/reports/brief", params={"period": last})
    assert not_yet.status_code == 400 and "has not started yet" in not_yet.json()["error"]
    for period in beyond(edge):
        assert "outside the calendar" in refused_at(client.get("/api/v1/reports/brief", params={"period": period}),
                                                    "query.period")  # fmt: skip


@pytest.mark.parametrize("edge", CALENDAR_PERIODS, ids=[e[0] for e in CALENDAR_PERIODS])
def test_targets_take_the_first_and_last_period_of_each_kind_and_refuse_the_ones_beyond(api, edge):
    client, engine = api
    for period in valid(edge):
        saved = client.put("/api/v1/targets", json={"metric": "revenue", "period": period, "amount": 1000})
        assert saved.status_code == 200, saved.text
        report = client.get("/api/v1/reports/targets", params={"period": period})
        assert report.status_code == 200, report.text
        assert [t["period"] for t in report.json()["targets"]] == [period]
    for period in beyond(edge):
        refused_at(client.get("/api/v1/reports/targets", params={"period": period}), "query.period")
        refused_at(
            client.put("/api/v1/targets", json={"metric": "revenue", "period": period, "amount": 1}), "body.period"
        )
    with engine.connect() as conn:
        kept = conn.execute(select(Target.period_start, Target.period_end)).all()
    assert all(FIRST <= start and end <= LAST for start, end in kept)


def test_a_target_over_the_whole_range_is_forecast_as_of_either_edge(api):
    client, _ = api
    body = {"metric": "revenue", "start": "1900-01-01", "end": "2999-12-31", "amount": 1000}
    assert client.put("/api/v1/targets", json=body).status_code == 200
    for at in ("1900-01-01", "2999-12-31", None):
        report = client.get("/api/v1/reports/targets", params={"at": at} if at else {})
        assert report.status_code == 200, (at, report.text)
        assert "1900-01-01..2999-12-31" in [t["period"] for t in report.json()["targets"]]
    refused_at(client.put("/api/v1/targets", json={**body, "end": "3000-01-01"}), "body.end")


def test_every_dated_query_parameter_is_found():
    names = {(path.rsplit("/", 1)[-1], name) for path, name, _ in DATED}
    assert {("brief", "at"), ("targets", "at"), ("funnel", "from"), ("handoffs", "at"), ("audit", "until")} <= names


def _dated_schemas(value, where=""):
    """(where, schema) of every day, moment or period anywhere in the document."""
    if isinstance(value, dict):
        if value.get("format") in DAY_EDGES or "W" in value.get("pattern", "") or "[Qq]" in value.get("pattern", ""):
            yield where, value
        for key, inner in value.items():
            yield from _dated_schemas(inner, f"{where}/{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _dated_schemas(inner, f"{where}/{index}")


def _refs(value) -> set[str]:
    """Names of the component schemas `value` points at, directly or through other schemas."""
    found: set[str] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            ref = item.get("$ref", "")
            name = ref.rsplit("/", 1)[-1]
            if ref and name not in found:
                found.add(name)
                pending.append(OPENAPI["components"]["schemas"][name])
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def _asked_schemas() -> set[str]:
    """Component schemas that describe what callers send (request bodies), not what truce answers."""
    bodies = [op.get("requestBody", {}) for ops in OPENAPI["paths"].values() for op in ops.values()]
    return _refs(bodies)


def test_the_openapi_document_shows_the_first_and_last_value_of_every_day_moment_and_period():
    found = list(_dated_schemas(OPENAPI))
    assert len(found) >= len(DATED) + 10  # query parameters, body fields and answers' fields
    asked = _asked_schemas()
    assert {"TargetIn", "DecisionIn", "StageChangeItem"} <= asked, asked  # the walk reaches nested bodies
    for where, schema in found:
        if "/responses/" in where:
            continue  # what truce answers: days it keeps
        parts = where.split("/")
        if parts[1] == "components" and parts[3] not in asked:
            continue  # a schema only answers use
        examples = schema.get("examples", [])
        if "pattern" in schema:
            assert "1900" in examples[1] and "2999" in examples[2], where
        else:
            assert examples[0].startswith("1900-01-01") and examples[-1].startswith("2999-12-31"), where


@pytest.mark.parametrize(("path", "name", "kind"), DATED, ids=[f"{p} {n}" for p, n, _ in DATED])
def test_every_dated_query_parameter_takes_the_first_and_last_day_and_refuses_the_ones_beyond(api, path, name, kind):
    client, _ = api
    first_and_last, outside = DAY_EDGES[kind]
    for value in first_and_last:
        response = client.get(path, params={name: value})
        # 400: the data cannot give it (an SLA clock years from any business hour, a brief not begun)
        assert response.status_code in (200, 400), (value, response.text)
    for value in outside:
        assert "outside the calendar" in refused_at(client.get(path, params={name: value}), f"query.{name}")


@pytest.mark.parametrize(
    ("url", "body", "path"),
    [
        ("/api/v1/opportunities", {"amount": 10, "stage": "discovery", "close_date": "3000-01-01"}, "body.close_date"),
        ("/api/v1/account-plans/1", {"liaison": "a@b.example", "owner": "c@d.example", "next_action_due": "1899-12-31"},
         "body.next_action_due"),
        ("/api/v1/ingest/touchpoints",
         {"items": [{"external_id": "t-1", "contact_email": "a@b.example", "occurred_at": "1899-12-31T23:59:59Z"}]},
         "body.items.0.occurred_at"),
        ("/api/v1/ingest/stage-changes",
         {"items": [{"external_id": "s-1", "contact_email": "a@b.example", "to_stage": "mql",
                     "changed_at": "3000-01-01T00:00:00"}]},
         "body.items.0.changed_at"),
    ],
)  # fmt: skip
def test_a_day_or_moment_in_a_body_outside_the_range_is_refused_naming_it(api, url, body, path):
    client, _ = api
    method = client.put if "account-plans" in url else client.post
    assert "outside the calendar" in refused_at(method(url, json=body), path)


def test_a_survey_round_that_spells_a_far_period_is_refused_and_the_reports_keep_working(api):
    client, _ = api
    answer = client.post("/api/v1/survey/responses", json={"round": "0000", "ratings": [3] * 20}, headers=client.seller)
    assert "outside the calendar" in refused_at(answer, "body.round")
    refused_at(client.get("/api/v1/reports/survey", params={"round": "9999-Q4"}), "query.round")
    assert client.get("/api/v1/reports/survey").status_code in (200, 400)  # 400: no round yet, never a 500
    assert client.get("/api/v1/reports/brief", params={"period": "2026-W40"}).status_code == 200


# ---- the web pages -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(api):
    _, engine = api
    client = TestClient(create_app(engine, CONFIG), base_url="http://127.0.0.1", headers={"accept": "text/html"},
                        raise_server_exceptions=False)  # fmt: skip
    assert (
        client.post("/login", data={"email": "ria@yourco.example", "password": "edges of the calendar"}).status_code
        == 200
    )
    return client


def test_the_targets_page_refuses_a_far_period_with_a_message(browser):
    page = browser.get("/targets", params={"period": "9999-Q4"})
    assert page.status_code == 400 and "9999-Q4 is outside the calendar truce accepts" in html.unescape(page.text)


@pytest.mark.parametrize("edge", EDGES, ids=[e[0] for e in EDGES])
def test_the_pages_take_the_first_and_last_period_of_each_kind_and_refuse_the_ones_beyond(browser, edge):
    page = "/brief/view" if edge[0] == "week" else "/targets"
    assert browser.get(page, params={"period": edge[1]}).status_code == 200
    if page == "/targets":
        assert browser.get(page, params={"period": edge[2]}).status_code == 200
    for period in beyond(edge):
        refused = browser.get(page, params={"period": period})
        assert refused.status_code == 400 and "outside the calendar" in html.unescape(refused.text), period


def test_the_funnel_page_takes_the_first_and_last_day_and_refuses_the_ones_beyond(browser):
    assert browser.get("/funnel", params={"start": "1900-01-01", "end": "2999-12-31"}).status_code == 200
    for asked in ({"start": "1899-12-31"}, {"end": "3000-01-01"}):
        refused = browser.get("/funnel", params=asked)
        assert refused.status_code == 400 and "outside the calendar" in html.unescape(refused.text), asked


def test_the_target_form_refuses_a_far_period_and_keeps_nothing(api, browser):
    _, engine = api
    token = re.search(r'name="csrf" value="([^"]+)"', browser.get("/targets").text)[1]
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(Target)).scalar_one()
    sent = browser.post("/targets", data={"metric": "pipeline", "team": "shared", "period": "0001-Q1", "amount": "5",
                                          "csrf": token})  # fmt: skip
    # Back to the targets page for that period, which refuses to show it too.
    assert sent.status_code == 400 and "0001-Q1 is outside the calendar" in html.unescape(sent.text)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Target)).scalar_one() == before


# ---- the CLI -------------------------------------------------------------------------------------


def truce(engine, *args: str):
    return CliRunner().invoke(cli, [*args, "--db", str(engine.url)])


def refused_in_one_line(result, *words: str) -> str:
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    line = result.output.strip()
    assert line.startswith("error:") and "\n" not in line, result.output
    assert all(word in line for word in words), line
    return line


@pytest.mark.parametrize("period", FAR_PERIODS)
def test_the_brief_refuses_a_far_period_in_one_line(api, period):
    _, engine = api
    refused_in_one_line(truce(engine, "brief", "--period", period), period, "outside the calendar")


@pytest.mark.parametrize("edge", EDGES, ids=[e[0] for e in EDGES])
def test_the_brief_command_takes_the_first_and_last_period_of_each_kind_and_refuses_the_ones_beyond(api, edge):
    _, engine = api
    first, last = valid(edge)
    made = truce(engine, "brief", "--period", first, "--json")
    assert made.exit_code == 0, made.output
    refused_in_one_line(truce(engine, "brief", "--period", last), "has not started yet")
    for period in beyond(edge):
        refused_in_one_line(truce(engine, "brief", "--period", period), "outside the calendar")


@pytest.mark.parametrize("edge", CALENDAR_PERIODS, ids=[e[0] for e in CALENDAR_PERIODS])
def test_the_target_commands_take_the_first_and_last_period_of_each_kind_and_refuse_the_ones_beyond(api, edge):
    _, engine = api
    for period in valid(edge):
        kept = truce(engine, "target", "set", "--metric", "mqls", "--period", period, "--amount", "7", "--as",
                     "ria@yourco.example")  # fmt: skip
        assert kept.exit_code == 0, kept.output
        shown = truce(engine, "target", "--period", period, "--json")
        assert shown.exit_code == 0 and period in shown.output, shown.output
    with engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(Target)).scalar_one()
    for period in beyond(edge):
        refused_in_one_line(truce(engine, "target", "--period", period), "--period", "outside the calendar")
        refused_in_one_line(
            truce(engine, "target", "set", "--metric", "mqls", "--period", period, "--amount", "7", "--as",
                  "ria@yourco.example"),
            period, "outside the calendar",
        )  # fmt: skip
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Target)).scalar_one() == before


@pytest.mark.parametrize(
    "command",
    [
        ["funnel", "--from"],
        ["metrics", "--to"],
        ["target", "--at"],
        ["target", "backtest", "--to"],
        ["brief", "--at"],
        ["sla", "--at"],
        ["custody", "--at"],
        ["handoff", "queue", "--at"],
        ["score", "explain", "nobody@yourco.example", "--at"],
        ["target", "set", "--metric", "mqls", "--amount", "1", "--as", "ria@yourco.example", "--end", "2000-01-01",
         "--start"],
    ],
    ids=lambda command: " ".join(command[:2]),
)  # fmt: skip
def test_a_day_option_beyond_the_range_is_refused_in_one_line(api, command):
    _, engine = api
    for day in ("1899-12-31", "3000-01-01"):
        refused_in_one_line(truce(engine, *command, day), command[-1], day, "outside the calendar")


def test_a_day_option_takes_the_first_and_last_day(api):
    _, engine = api
    for options in (["funnel", "--from", "1900-01-01", "--to", "2999-12-31"], ["target", "--at", "1900-01-01"],
                    ["target", "--at", "2999-12-31"], ["custody", "--at", "2999-12-31T23:59:59Z"]):  # fmt: skip
        shown = truce(engine, *options, "--json")
        assert shown.exit_code == 0, (options, shown.output)


def test_survey_take_refuses_a_round_that_spells_a_far_period(api):
    _, engine = api
    refused_in_one_line(truce(engine, "survey", "take", "--round", "0001-Q1", "--as", "sam@yourco.example"),
                        "0001-Q1", "outside the calendar")  # fmt: skip


# ---- import files --------------------------------------------------------------------------------


def test_an_import_reports_dates_beyond_the_range_by_line_and_field_and_writes_nothing(
    sqlite_engine, default_config, tmp_path
):
    path = tmp_path / "contacts.csv"
    path.write_text(
        "external_id,email,stage,created_at\n"
        "C-1,a@x.example,mql,1900-01-01T00:00:00Z\n"
        "C-2,b@x.example,mql,0001-01-01T00:00:00+01:00\n"
        "C-3,c@x.example,mql,3000-01-01\n"
        "C-4,d@x.example,mql,12/31/1899\n"
        "C-5,e@x.example,mql,2999-12-31T23:59:59-12:00\n"
    )
    with pytest.raises(ImportFailed) as caught:
        import_file(sqlite_engine, "contacts", path, default_config)
    found = [(e.line, e.column, e.kind, e.message) for e in caught.value.report.errors]
    assert found == [
        (3, "created_at", "validation", f"0001-01-01 {OUTSIDE}"),
        (4, "created_at", "validation", f"3000-01-01 {OUTSIDE}"),
        (5, "created_at", "validation", f"1899-12-31 {OUTSIDE}"),
    ]
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Contact)).scalar_one() == 0


def test_an_import_reports_a_day_beyond_the_range(sqlite_engine, default_config, tmp_path):
    path = tmp_path / "campaigns.csv"
    path.write_text("external_id,name,channel,starts_on,ends_on\nK-1,Old,webinar,1900-01-01,2999-12-31\n"
                    "K-2,Older,webinar,1899-12-31,1900-01-31\n")  # fmt: skip
    with pytest.raises(ImportFailed) as caught:
        import_file(sqlite_engine, "campaigns", path, default_config)
    assert [(e.line, e.column) for e in caught.value.report.errors] == [(3, "starts_on")]
