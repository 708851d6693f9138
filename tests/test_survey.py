"""The survey service on a real store: responses, imports that name the bad line and write nothing, the report."""

from __future__ import annotations

import datetime as dt

import pytest
from conftest import writing
from sqlalchemy import func, insert, select

from truce import config as truce_config
from truce.services import survey
from truce.services.survey import SurveyError, SurveyImportError
from truce.store.models import AuditEntry, ImportRun, SurveyResponse, SurveyRound, User

CONFIG = truce_config.parse(truce_config.default_text(), "truce.toml")
HEADER = "respondent,team,role,round," + ",".join(f"s{n}" for n in range(1, 21))


def answers(base: int, **changes: int) -> list[int]:
    ratings = [base] * 20
    for key, value in changes.items():
        ratings[int(key[1:]) - 1] = value
    return ratings


def line(email: str, team: str, role: str, round_name: str, ratings) -> str:
    return ",".join([email, team, role, round_name, *map(str, ratings)])


def write(tmp_path, *lines: str, header: str = HEADER, name: str = "survey.csv"):
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            model.__tablename__: conn.execute(select(func.count()).select_from(model)).scalar_one()
            for model in (SurveyResponse, SurveyRound, User, AuditEntry, ImportRun)
        }


def config_with(**diagnostic) -> truce_config.TruceConfig:
    text = truce_config.default_text()
    for key, value in diagnostic.items():
        old = next(row for row in text.splitlines() if row.startswith(f"{key} ="))
        text = text.replace(old, f"{key} = {value!r}".replace("'", '"'))
    return truce_config.parse(text, "truce.toml")


@pytest.fixture
def people(engine):
    now = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)
    staff = [
        ("eva@yourco.example", "sales", True),
        ("nick@yourco.example", "sales", False),
        ("mia@yourco.example", "marketing", False),
        ("rob@yourco.example", "revops", False),
    ]
    with writing(engine) as conn:
        for email, team, leader in staff:
            conn.execute(
                insert(User),
                {
                    "email": email,
                    "name": email.split("@")[0],
                    "team": team,
                    "is_leader": leader,
                    "active": True,
                    "created_at": now,
                },
            )
    return [email for email, *_ in staff]


def respond(engine, email, team, round_name="2026-Q4", ratings=None, role=None):
    return survey.record_response(
        engine,
        round_name=round_name,
        respondent_email=email,
        team=team,
        role=role or survey.respondent(engine, email)["role"],
        ratings=ratings or [3] * 20,
        source="cli",
        actor=email.strip().lower(),
    )


# --- one response ------------------------------------------------------------------------------


def test_it_keeps_a_response_in_a_new_round_and_audits_both(engine, people):
    kept = respond(engine, "EVA@yourco.example ", "sales", ratings=answers(4, s3=2), role="leader")
    assert kept == {
        "round": "2026-Q4",
        "respondent": "eva@yourco.example",
        "team": "sales",
        "role": "leader",
        "score": 78,
        "type": "aligned",
    }
    with engine.connect() as conn:
        row = conn.execute(select(SurveyResponse)).mappings().one()
        audit = conn.execute(select(AuditEntry.actor, AuditEntry.action, AuditEntry.entity_type)).all()
    assert (row["team"], row["role"], row["source"], row["s3"], row["s4"]) == ("sales", "leader", "cli", 2, 4)
    assert sorted(audit) == [
        ("eva@yourco.example", "create", "survey_response"),
        ("eva@yourco.example", "create", "survey_round"),
    ]


@pytest.mark.parametrize(
    ("email", "team", "role", "message"),
    [
        ("nick@yourco.example", "marketing", "staff", "nick@yourco.example is on the sales team and answers as sales, not marketing"),
        ("mia@yourco.example", "sales", "staff", "is on the marketing team and answers as marketing, not sales"),
        ("nick@yourco.example", "sales", "leader", "nick@yourco.example answers as staff, as their account says, not leader"),
        ("rob@yourco.example", "sales", "staff", "the diagnostic is answered by sales and marketing; rob@yourco.example is on the revops team"),
    ],
)  # fmt: skip
def test_answers_are_given_as_the_team_and_role_of_ones_account(engine, people, email, team, role, message):
    before = counts(engine)
    with pytest.raises(survey.NotYourTeam, match=message):
        respond(engine, email, team, role=role)
    assert counts(engine) == before


def test_it_refuses_a_second_answer_from_the_same_respondent_in_a_round(engine, people):
    respond(engine, "eva@yourco.example", "sales")
    before = counts(engine)
    with pytest.raises(SurveyError, match="eva@yourco.example has already answered round 2026-Q4"):
        respond(engine, "eva@yourco.example", "sales", ratings=[5] * 20)
    with pytest.raises(SurveyError, match="already answered"):
        survey.check_not_answered(engine, "2026-Q4", "eva@yourco.example")
    assert counts(engine) == before
    respond(engine, "eva@yourco.example", "sales", round_name="2027-Q1")  # a new round is a new answer
    assert counts(engine)["survey_responses"] == 2


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"team": "revops"}, "the team must be sales or marketing, not 'revops'"),
        ({"role": "boss"}, "the role must be leader or staff, not 'boss'"),
        ({"ratings": answers(3, s9=6)}, "s9: 6 is not a rating from 1 to 5"),
        ({"ratings": [3] * 19}, "expected 20 ratings"),
        ({"respondent_email": "who@nowhere.example"}, "no user with email 'who@nowhere.example'"),
        ({"round_name": " "}, "a round needs a name"),
    ],
)
def test_a_bad_response_is_refused_and_nothing_is_written(engine, people, changes, message):
    before = counts(engine)
    asked = {
        "round_name": "2026-Q4",
        "respondent_email": "eva@yourco.example",
        "team": "sales",
        "role": "staff",
        "ratings": [3] * 20,
        **changes,
    }
    with pytest.raises(SurveyError, match=message):
        survey.record_response(engine, **asked, source="cli", actor="eva@yourco.example")
    assert counts(engine) == before


def test_a_user_answers_for_their_team_and_role_by_default(engine, people):
    assert survey.respondent(engine, "eva@yourco.example") == {
        "email": "eva@yourco.example",
        "team": "sales",
        "role": "leader",
    }
    assert survey.respondent(engine, "rob@yourco.example")["team"] is None  # revops must say which team
    with pytest.raises(SurveyError, match="--as EMAIL or TRUCE_USER"):
        survey.respondent(engine, None)


# --- import --------------------------------------------------------------------------------------


def test_it_imports_a_file_and_adds_new_respondents_as_users(engine, people, tmp_path):
    path = write(
        tmp_path,
        line("eva@yourco.example", "sales", "leader", "2026-Q4", [4] * 20),
        line("Jo.Smith@YourCo.example", "Marketing", "Leader", "2026-Q4", answers(2, s1=5)),
        line("jo.smith@yourco.example", "marketing", "leader", "2026-Q3", [3] * 20),
    )
    result = survey.import_responses(engine, path, actor="ria@yourco.example")
    assert result == {
        "file": str(path),
        "responses": 3,
        "rounds": ["2026-Q4", "2026-Q3"],
        "users_created": ["jo.smith@yourco.example"],
    }
    with engine.connect() as conn:
        jo = conn.execute(select(User).where(User.email == "jo.smith@yourco.example")).mappings().one()
        kept = conn.execute(select(SurveyResponse.source, SurveyResponse.s1, SurveyResponse.s2)).all()
        run = conn.execute(select(ImportRun.target_table, ImportRun.rows_read, ImportRun.actor)).one()
        actions = conn.execute(select(AuditEntry.action, AuditEntry.entity_type, AuditEntry.actor)).all()
    assert (jo["name"], jo["team"], jo["is_leader"], jo["active"]) == ("Jo Smith", "marketing", True, True)
    assert sorted(kept) == [("import", 3, 3), ("import", 4, 4), ("import", 5, 2)]
    assert tuple(run) == ("survey_responses", 3, "ria@yourco.example")
    assert ("import", "survey_responses", "ria@yourco.example") in actions
    assert ("create", "user", "ria@yourco.example") in actions


GOOD = line("eva@yourco.example", "sales", "leader", "2026-Q4", [3] * 20)
NICK = line("nick@yourco.example", "sales", "staff", "2026-Q4", [3] * 20)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (
            [GOOD, NICK, line("mia@yourco.example", "marketing", "staff", "2026-Q4", answers(3, s7=6))],
            "survey.csv, line 4, column s7: 6 is not a rating from 1 to 5",
        ),
        (
            [GOOD, line("nick@yourco.example", "sales", "staff", "2026-Q4", answers(3, s12=""))],
            "survey.csv, line 3, column s12: no rating; every statement needs a rating from 1 to 5",
        ),
        (
            [GOOD, line("mia@yourco.example", "finance", "staff", "2026-Q4", [3] * 20)],
            "survey.csv, line 3, column team: 'finance' is neither sales nor marketing",
        ),
        (
            [line("mia@yourco.example", "marketing", "intern", "2026-Q4", [3] * 20)],
            "survey.csv, line 2, column role: 'intern' is neither leader nor staff",
        ),
        (
            [line("mia at yourco", "marketing", "staff", "2026-Q4", [3] * 20)],
            "survey.csv, line 2, column respondent: 'mia at yourco' is not an email address",
        ),
        (
            [GOOD, NICK, GOOD.replace(",3,3,3", ",4,4,4", 1)],
            "survey.csv, line 4, column respondent: eva@yourco.example answers round 2026-Q4 a second time "
            "(first on line 2)",
        ),
        (
            [GOOD, NICK + ",3"],
            "survey.csv, line 3: 25 cells, but the header has 24 columns",
        ),
        (
            [GOOD, line("mia@yourco.example", "marketing", "staff", "2026-Q4", answers(3, s20="x"))],
            "survey.csv, line 3, column s20: x is not a rating from 1 to 5",
        ),
    ],
    ids=["rating-6", "missing-statement", "unknown-team", "unknown-role", "bad-email", "twice", "extra-cell", "text"],
)
def test_a_bad_file_is_refused_naming_the_line_and_nothing_is_written(engine, people, tmp_path, lines, expected):
    path = write(tmp_path, *lines)
    before = counts(engine)
    with pytest.raises(SurveyImportError) as refused:
        survey.import_responses(engine, path, actor="ria@yourco.example")
    assert f"{tmp_path}/{expected}" in refused.value.problems
    assert "nothing was imported" in str(refused.value)
    assert counts(engine) == before


def test_a_missing_statement_column_is_named(engine, people, tmp_path):
    header = HEADER.replace(",s12,", ",")
    path = write(tmp_path, ",".join(GOOD.split(",")[:15] + GOOD.split(",")[16:]), header=header)
    with pytest.raises(SurveyImportError, match=r"survey.csv, line 1: missing column s12;"):
        survey.import_responses(engine, path)


def test_lines_are_counted_as_in_the_file_when_a_cell_holds_a_line_break(engine, people, tmp_path):
    header = HEADER + ",comment"
    path = write(
        tmp_path,
        GOOD + ',"Two lines\nof comment"',
        line("mia@yourco.example", "marketing", "staff", "2026-Q4", answers(3, s2=0)) + ",",
        header=header,
    )
    with pytest.raises(SurveyImportError) as refused:
        survey.import_responses(engine, path)
    assert refused.value.problems == [f"{path}, line 4, column s2: 0 is not a rating from 1 to 5"]


def test_every_problem_in_a_file_is_reported_in_line_order(engine, people, tmp_path):
    path = write(
        tmp_path,
        line("eva@yourco.example", "sales", "staff", "2026-Q4", answers(3, s1=9, s2=7)),
        line("mia@yourco.example", "legal", "staff", "2026-Q4", [3] * 20),
    )
    with pytest.raises(SurveyImportError) as refused:
        survey.import_responses(engine, path)
    assert [p.split(": ")[0].split(", ", 1)[1] for p in refused.value.problems] == [
        "line 2, column s1",
        "line 2, column s2",
        "line 3, column team",
    ]


def test_importing_the_same_file_again_is_refused_line_by_line(engine, people, tmp_path):
    path = write(tmp_path, GOOD, NICK)
    survey.import_responses(engine, path)
    before = counts(engine)
    with pytest.raises(SurveyImportError) as refused:
        survey.import_responses(engine, path)
    assert refused.value.problems == [
        f"{path}, line 2, column respondent: eva@yourco.example has already answered round 2026-Q4; "
        "each respondent answers once per round",
        f"{path}, line 3, column respondent: nick@yourco.example has already answered round 2026-Q4; "
        "each respondent answers once per round",
    ]
    assert counts(engine) == before


def test_a_file_answering_as_another_team_or_role_than_the_account_is_refused(engine, people, tmp_path):
    before = counts(engine)
    as_marketing = line("nick@yourco.example", "marketing", "staff", "2026-Q4", [3] * 20)
    as_staff = line("eva@yourco.example", "sales", "staff", "2026-Q4", [3] * 20)
    path = write(tmp_path, as_staff, as_marketing)
    with pytest.raises(SurveyImportError) as refused:
        survey.import_responses(engine, path)
    assert refused.value.problems == [
        f"{path}, line 2, column role: eva@yourco.example is leader by their account, not staff",
        f"{path}, line 3, column team: nick@yourco.example is on the sales team, not marketing",
    ]
    assert counts(engine) == before


def test_a_file_answering_for_someone_who_answered_by_cli_is_refused(engine, people, tmp_path):
    respond(engine, "nick@yourco.example", "sales")
    before = counts(engine)
    with pytest.raises(SurveyImportError, match="line 3, column respondent: nick@yourco.example has already"):
        survey.import_responses(engine, write(tmp_path, GOOD, NICK))
    assert counts(engine) == before


def test_an_empty_file_is_refused(engine, people, tmp_path):
    with pytest.raises(SurveyImportError, match="no responses below the header"):
        survey.import_responses(engine, write(tmp_path))


# --- the report ----------------------------------------------------------------------------------

SALES = [answers(3, s1=5, s2=1), answers(3, s1=4, s2=2, s7=5), answers(3, s1=3, s2=1, s7=4)]
MARKETING = [answers(3, s1=2, s2=3), answers(3, s1=1, s2=3, s7=2), answers(3, s1=2, s2=4)]


def load(engine, tmp_path, round_name: str, sales, marketing, roles=None, name="survey.csv"):
    rows = [
        line(f"s{i}@yourco.example", "sales", (roles or {}).get(("sales", i), "staff"), round_name, r)
        for i, r in enumerate(sales)
    ] + [
        line(f"m{i}@yourco.example", "marketing", (roles or {}).get(("marketing", i), "staff"), round_name, r)
        for i, r in enumerate(marketing)
    ]
    survey.import_responses(engine, write(tmp_path, *rows, name=name))


def report(engine, round_name=None, config=CONFIG):
    return survey.survey_report(engine, config, round_name, with_indicators=False)


def test_the_report_scores_the_hand_worked_round(engine, tmp_path):
    load(engine, tmp_path, "2026-Q4", SALES, MARKETING)
    data = report(engine)
    assert data["round"] == "2026-Q4"
    assert data["period"] == {"from": "2026-10-01", "to": "2026-12-31"}
    # 60, 62, 59 and 59, 57, 60: the company mean is 357 / 6 = 59.5, defined
    assert data["company"] == {
        "respondents": 6,
        "score": 59.5,
        "type": "defined",
        "spread": 1.5,
        "min": 57,
        "max": 62,
    }
    sales, marketing = data["teams"]["sales"], data["teams"]["marketing"]
    assert (sales["respondents"], sales["mean"], sales["type"], sales["spread"]) == (3, 60.3, "aligned", 1.25)
    assert (marketing["respondents"], marketing["mean"], marketing["type"]) == (3, 58.7, "defined")
    assert [(g["statement"], g["sales"], g["marketing"], g["gap"]) for g in data["gaps"][:3]] == [
        ("s1", 4.0, 1.67, 2.33),
        ("s2", 1.33, 3.33, -2.0),
        ("s7", 4.0, 2.67, 1.33),
    ]
    assert data["respondents_shown"] == "named"
    assert data["respondents"][0] == {
        "respondent": "s1@yourco.example",
        "team": "sales",
        "role": "staff",
        "score": 62,
        "type": "aligned",
    }
    assert [r["score"] for r in data["respondents"]] == [62, 60, 60, 59, 59, 57]
    assert data["notes"] == []


def test_the_report_keeps_the_documented_contract(engine, tmp_path):
    load(engine, tmp_path, "2026-Q4", SALES, MARKETING)
    data = survey.survey_report(engine, CONFIG)  # with the indicators
    assert {"round", "company", "teams", "gaps", "trend", "indicators", "target", "playbook"} <= set(data)
    assert {"score", "type"} <= set(data["company"])
    for team in ("sales", "marketing"):
        assert {"respondents", "mean", "type"} <= set(data["teams"][team])
    assert {"statement", "sales", "marketing", "gap"} <= set(data["gaps"][0])
    assert data["indicators"]["from"] == "2026-10-01" and data["indicators"]["to"] == "2026-12-31"
    assert data["target"]["state"] == "integrated"  # the default context: complex offering
    assert [m["from"] for m in data["playbook"]] == ["defined"] * 3
    assert all("indicator_value" in m for m in data["playbook"])


def test_a_team_below_the_threshold_shows_no_figure_and_no_gap(engine, tmp_path):
    load(engine, tmp_path, "2026-Q4", SALES[:2], MARKETING)
    data = report(engine)
    assert data["teams"]["sales"] == {
        "respondents": 2,
        "withheld": True,
        "mean": None,
        "spread": None,
        "min": None,
        "max": None,
        "type": None,
        "roles": None,
    }
    # marketing is withheld too: with the company mean, it would give away the two sellers' mean
    assert data["teams"]["marketing"]["withheld"] is True and data["teams"]["marketing"]["mean"] is None
    assert data["gaps"] == []
    assert data["company"]["score"] == round((60 + 62 + 59 + 57 + 60) / 5, 1)
    assert data["respondents_shown"] == "anonymous"
    assert data["respondents"] == [
        {"score": s, "type": "aligned" if s >= 60 else "defined"} for s in (62, 60, 60, 59, 57)
    ]
    assert any("fewer than 3 respondents from sales" in note for note in data["notes"])


def test_the_threshold_comes_from_the_configuration(engine, tmp_path):
    load(engine, tmp_path, "2026-Q4", SALES[:2], MARKETING[:2])
    data = report(engine, config=config_with(anonymity_threshold=2))
    assert data["teams"]["sales"]["mean"] == 61.0
    assert data["gaps"][0]["statement"] == "s1"


def test_a_team_that_did_not_answer_hides_nothing_about_the_other(engine, tmp_path):
    load(engine, tmp_path, "2026-Q4", [], MARKETING)
    data = report(engine)
    assert data["teams"]["sales"]["respondents"] == 0 and data["teams"]["sales"]["withheld"] is False
    assert data["teams"]["marketing"]["mean"] == 58.7
    assert data["gaps"] == []
    assert data["respondents_shown"] == "named"


def test_fewer_respondents_than_the_threshold_in_all_show_nothing(engine, tmp_path):
    load(engine, tmp_path, "2026-Q4", SALES[:1], MARKETING[:1])
    data = report(engine)
    assert data["company"]["score"] is None and data["company"]["respondents"] == 2
    assert data["respondents"] == [] and data["respondents_shown"] == "withheld"
    assert data["playbook"] is None


def test_leaders_and_staff_are_split_only_when_both_groups_are_large_enough(engine, tmp_path):
    six = SALES + SALES
    leaders = {("sales", i): "leader" for i in range(3)}
    load(engine, tmp_path, "2026-Q4", six, MARKETING, roles=leaders)
    roles = report(engine)["teams"]["sales"]["roles"]
    assert roles["leader"]["mean"] == 60.3 and roles["staff"]["respondents"] == 3
    load(engine, tmp_path, "2026-Q3", six[:5], MARKETING, roles=leaders, name="q3.csv")
    assert report(engine, "2026-Q3")["teams"]["sales"]["roles"] is None  # 3 leaders, 2 staff


def test_the_trend_runs_across_rounds_in_the_order_of_their_periods(engine, tmp_path):
    load(engine, tmp_path, "2026-Q4", SALES, MARKETING, name="q4.csv")
    load(engine, tmp_path, "2026-Q3", [[2] * 20] * 3, [[3] * 20] * 3, name="q3.csv")
    data = report(engine)
    assert data["rounds"] == ["2026-Q3", "2026-Q4"] and data["round"] == "2026-Q4"
    assert data["trend"] == [
        {"round": "2026-Q3", "respondents": 6, "score": 50.0, "type": "defined", "sales": 40.0, "marketing": 60.0},
        {"round": "2026-Q4", "respondents": 6, "score": 59.5, "type": "defined", "sales": 60.3, "marketing": 58.7},
    ]
    assert [t["round"] for t in report(engine, "2026-Q3")["trend"]] == ["2026-Q3"]


def test_a_round_without_a_period_in_its_name_is_measured_over_the_90_days_before_it_opened(engine, people):
    survey.open_round(engine, "pulse", at=dt.datetime(2026, 3, 31, 12, tzinfo=dt.UTC))
    respond(engine, "eva@yourco.example", "sales", round_name="pulse")
    assert report(engine)["period"] == {"from": "2026-01-01", "to": "2026-03-31"}
    with pytest.raises(SurveyError, match="round 'pulse' already exists"):
        survey.open_round(engine, "pulse")


def test_an_unknown_round_is_refused_naming_the_known_ones(engine, tmp_path):
    with pytest.raises(SurveyError, match="no survey rounds yet"):
        report(engine)
    load(engine, tmp_path, "2026-Q4", SALES, MARKETING)
    with pytest.raises(SurveyError, match="no survey round '2025-Q1'; the rounds are 2026-Q4"):
        report(engine, "2025-Q1")


def test_a_small_calm_company_is_told_to_stay_and_a_complex_one_to_integrate(engine, tmp_path):
    load(engine, tmp_path, "2026-Q4", SALES, MARKETING)
    calm = config_with(employees=20, market_change="slow", offering_complexity="simple", informal_relationship="good")
    stay = report(engine, config=calm)
    assert stay["target"]["state"] == "defined" and stay["target"]["stay"] is True
    assert stay["playbook"] == []
    busy = config_with(employees=400, market_change="moderate", offering_complexity="moderate")
    aligned = report(engine, config=busy)
    assert aligned["target"]["state"] == "aligned"
    assert [m["feature"] for m in aligned["playbook"]] == [
        "truce attribution --by team",
        "account plans",
        "truce feedback add",
    ]
