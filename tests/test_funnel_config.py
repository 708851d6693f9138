"""RevOps edits the funnel and its SLA: the service, `PUT /api/v1/config/funnel` and the form on /funnel.

Every expected file below is written out by hand: the edit must keep each other line of
truce.toml as it was (comments too), and what it writes must read back as the values sent.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tomllib
from html import unescape

import pytest
from conftest import writing
from fastapi.testclient import TestClient
from sqlalchemy import insert, select

from truce import config as truce_config
from truce.services import funnel_config
from truce.services.funnel_config import FunnelConfigInvalid, FunnelConfigRefused, Problem
from truce.services.lifecycle import move_contact
from truce.services.logins import add_user, create_token
from truce.store.models import AuditEntry, Contact
from truce.web.app import create_app

T0 = dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC)
PASSWORD = "correct horse battery"

HEAD = """\
# Our funnel, signed by both teams on 2026-11-02.

[company]
name = "Acme"  # the legal name
timezone = "Europe/Berlin"

"""
FUNNEL = """\
# Who holds a lead at each stage.
[funnel]
handoff_stage = "mql"
accepted_stage = "sal"

[[funnel.stages]]
key = "inquiry"
label = "Inquiry"
team = "marketing"

[[funnel.stages]]
key = "mql"
label = "MQL"
team = "sales"

[[funnel.stages]]
key = "sal"
label = "SAL"
team = "sales"

[[funnel.exits]]
key = "recycled"
label = "Recycled"
team = "marketing"

[[funnel.rejection_reasons]]
code = "no_budget"
label = "No budget"
exit = "recycled"

"""
HOURS = """\
# When the clock runs.
[business_hours]
opens = 08:00:00
closes = 16:00:00

"""
SLA = """\
# Sales' promise.
[sla.sales]
first_touch_hours = 4

"""
TAIL = """\
[custody]
final_stages = ["recycled"]   # nothing else is final here
"""
SMALL = HEAD + FUNNEL + HOURS + SLA + TAIL


@pytest.fixture
def small(tmp_path):
    path = tmp_path / "truce.toml"
    path.write_text(SMALL, encoding="utf-8")
    return path, truce_config.load(path)


def _audit(engine) -> list:
    with engine.connect() as conn:
        return conn.execute(select(AuditEntry).where(AuditEntry.action == "funnel_config_edit")).all()


def _contact_at(engine, config, email: str, *stages: str) -> int:
    with writing(engine) as conn:
        contact = conn.execute(
            insert(Contact).returning(Contact.id),
            {"email": email, "stage": stages[0], "created_at": T0, "updated_at": T0},
        ).scalar_one()
        for stage in stages[1:]:
            move_contact(conn, config, contact, stage, at=T0, actor="test")
    return contact


# ---- the service ----------------------------------------------------------------------------------


def test_the_form_text_is_the_files_funnel_and_sla_with_their_comments(small):
    path, config = small
    assert funnel_config.current_text(config, path) == FUNNEL + SLA.rstrip("\n") + "\n"


def test_an_edit_replaces_funnel_and_sla_and_keeps_every_other_line(sqlite_engine, small):
    path, config = small
    text = FUNNEL.replace('label = "MQL"', 'label = "Marketing qualified"') + (
        "[sla.sales]\nfirst_touch_hours = 2  # agreed in the revenue meeting\n\n[sla.marketing]\nmqls_per_month = 40\n"
    )
    new = funnel_config.edit_from_toml(sqlite_engine, config, text, actor="ria@yourco.example", path=path)
    assert path.read_text(encoding="utf-8") == HEAD + text + "\n" + HOURS + TAIL
    assert (new.funnel.stages[1].label, new.sla.sales.first_touch_hours, new.sla.marketing.mqls_per_month) == (
        "Marketing qualified",
        2,
        40,
    )
    # The file says what the store's first version says (funnel_version is where it came from).
    assert new.source_path == str(path) and new == truce_config.load(path).model_copy(update={"funnel_version": 1})
    assert config.funnel.stages[1].label == "MQL"  # the old object is left as it was
    [entry] = _audit(sqlite_engine)
    assert (entry.actor, entry.entity_type, entry.after["file"]) == ("ria@yourco.example", "config", str(path))
    assert (entry.before["funnel"]["stages"][1]["label"], entry.after["funnel"]["stages"][1]["label"]) == (
        "MQL",
        "Marketing qualified",
    )
    assert entry.before["sla"]["sales"]["first_touch_hours"] == 4 and entry.after["sla"]["sales"] == {
        "first_touch_hours": 2,
        "decision_hours": 24,
        "min_attempts": 6,
        "attempt_window_days": 10,
        "undo_minutes": 10,
    }


def test_without_a_file_the_edit_writes_one_from_the_defaults(sqlite_engine, tmp_path, default_config):
    path = tmp_path / "truce.toml"
    text = funnel_config.current_text(default_config, path)
    assert text.startswith("[funnel]\n# The stage at which marketing hands a lead to sales")
    new = funnel_config.edit_from_toml(
        sqlite_engine,
        default_config,
        text.replace("decision_hours = 24", "decision_hours = 16"),
        actor="ria@x",
        path=path,
    )
    written = tomllib.loads(path.read_text(encoding="utf-8"))
    default = tomllib.loads(truce_config.default_text())
    assert {k: v for k, v in written.items() if k != "sla"} == {k: v for k, v in default.items() if k != "sla"}
    assert written["sla"]["sales"]["decision_hours"] == 16 and new.sla.sales.decision_hours == 16
    assert "# When the SLA clock runs: business hours in [company] timezone." in path.read_text(encoding="utf-8")


def test_the_api_data_is_written_as_plain_toml_that_reads_back_as_sent(sqlite_engine, small):
    path, config = small
    funnel = {
        "handoff_stage": "mql",
        "accepted_stage": "sal",
        "stages": [
            {"key": "inquiry", "label": "Inquiry", "team": "marketing"},
            {"key": "mql", "label": 'MQL "hot"\tlead', "team": "sales"},
            {"key": "sal", "label": "SAL", "team": "sales", "description": "Sales said yes."},
        ],
        "exits": [{"key": "recycled", "label": "Recycled", "team": "marketing"}],
        "rejection_reasons": [{"code": "no_budget", "label": "No budget", "exit": "recycled"}],
        "transitions": {"entry_stages": ["inquiry"], "inquiry": ["mql"], "mql": ["sal", "recycled"], "sal": []},
    }
    sla = {"sales": {"first_touch_hours": 2.5}, "marketing": {"min_acceptance_rate": 0.6}}
    funnel_config.edit_from_data(sqlite_engine, config, funnel=funnel, sla=sla, actor="ria@x", path=path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(HEAD) and text.endswith("\n" + HOURS + TAIL)
    assert "# Who holds a lead" not in text and "# Sales' promise." not in text  # the old sections' own comments
    written = tomllib.loads(text)
    plain = {"description": ""}
    assert written["funnel"] == {
        "handoff_stage": "mql",
        "accepted_stage": "sal",
        "stages": [
            {"key": "inquiry", "label": "Inquiry", "team": "marketing"} | plain,
            {"key": "mql", "label": 'MQL "hot"\tlead', "team": "sales"} | plain,
            {"key": "sal", "label": "SAL", "team": "sales", "description": "Sales said yes."},
        ],
        "exits": [{"key": "recycled", "label": "Recycled", "team": "marketing"} | plain],
        "rejection_reasons": [{"code": "no_budget", "label": "No budget", "exit": "recycled"}],
        "transitions": {"entry_stages": ["inquiry"], "inquiry": ["mql"], "mql": ["sal", "recycled"], "sal": []},
    }
    assert written["sla"] == {
        "sales": {"first_touch_hours": 2.5, "decision_hours": 24, "min_attempts": 6, "attempt_window_days": 10,
                  "undo_minutes": 10},
        "marketing": {"mqls_per_month": 100, "min_acceptance_rate": 0.6},
        # Written whole: the promises' reminders and escalation keep their defaults (docs/sla.md).
        "remind_hours_left": [4, 1],
        "escalation": {"enabled": True, "tell_leader_after_hours": 8, "reroute_after_hours": 16,
                       "action": "reroute", "max_reroutes": 1, "nurture_stage": "recycled"},
    }  # fmt: skip


def test_toml_mistakes_name_the_line_column_and_key(sqlite_engine, small):
    path, config = small

    def problems(text: str) -> list[Problem]:
        with pytest.raises(FunnelConfigInvalid) as refused:
            funnel_config.edit_from_toml(sqlite_engine, config, text, actor="ria@x", path=path)
        return refused.value.problems

    [syntax] = problems('[funnel]\nhandoff_stage = "mql"\naccepted_stage "sal"\n')
    assert (syntax.line, syntax.column) == (3, 16) and syntax.message.startswith("not valid TOML: Expected '='")
    wrong_team = FUNNEL.replace('team = "sales"', 'team = "finance"', 1) + SLA
    [team] = problems(wrong_team)
    assert (team.path, team.line, team.column) == ("funnel.stages.1.team", 14, 1)
    assert "'marketing', 'sales' or 'revops'" in team.message
    negative = FUNNEL + "[sla.sales]\nfirst_touch_hours = 4\n  decision_hours = -1\n"
    [hours] = problems(negative)
    assert (hours.path, hours.line, hours.column) == ("sla.sales.decision_hours", 33, 3)
    unknown_exit = FUNNEL.replace('exit = "recycled"', 'exit = "lost"') + SLA
    [rule] = problems(unknown_exit)
    assert (rule.path, rule.line) == ("funnel", 2) and "exits to 'lost'" in rule.message
    other = problems(FUNNEL + '[company]\nname = "Other"\n')
    assert [(p.path, p.line) for p in other] == [("company", 31), ("sla", None)]
    assert "only [funnel] and [sla] are edited here" in other[0].message
    assert path.read_text(encoding="utf-8") == SMALL and _audit(sqlite_engine) == []


def test_a_stage_the_other_sections_name_must_stay(sqlite_engine, small):
    path, config = small
    without_recycled = FUNNEL.replace('key = "recycled"', 'key = "nurture"').replace(
        'exit = "recycled"', 'exit = "nurture"'
    )
    with pytest.raises(FunnelConfigInvalid) as refused:
        funnel_config.edit_from_toml(sqlite_engine, config, without_recycled + SLA, actor="ria@x", path=path)
    [problem] = refused.value.problems
    assert problem.path == "" and "custody.final_stages: unknown stage 'recycled'" in problem.message


def test_sla_hours_the_clock_cannot_count_are_refused(sqlite_engine, small):
    path, config = small
    with pytest.raises(FunnelConfigInvalid) as refused:
        funnel_config.edit_from_data(
            sqlite_engine,
            config,
            funnel=config.funnel.model_dump(),
            sla={"sales": {"decision_hours": 1e9, "attempt_window_days": 10**6}},
            actor="ria@x",
            path=path,
        )
    assert [p.path for p in refused.value.problems] == ["sla.sales.decision_hours", "sla.sales.attempt_window_days"]


def test_a_stage_the_records_use_cannot_be_removed_but_an_unused_one_can(engine, small):
    path, config = small
    _contact_at(engine, config, "ann@acme.example", "inquiry")
    with_sql = FUNNEL.replace(
        "[[funnel.exits]]", '[[funnel.stages]]\nkey = "sql"\nlabel = "SQL"\nteam = "sales"\n\n[[funnel.exits]]'
    )
    added = funnel_config.edit_from_toml(engine, config, with_sql + SLA, actor="ria@x", path=path)
    assert [s.key for s in added.funnel.stages] == ["inquiry", "mql", "sal", "sql"]
    removed = funnel_config.edit_from_toml(engine, added, FUNNEL + SLA, actor="ria@x", path=path)
    assert [s.key for s in removed.funnel.stages] == ["inquiry", "mql", "sal"]
    before = path.read_bytes()
    renamed = FUNNEL.replace('key = "inquiry"', 'key = "lead"').replace('"inquiry"', '"lead"')
    with pytest.raises(FunnelConfigRefused, match=r"cannot remove stages the records use \('inquiry': 1 contacts"):
        funnel_config.edit_from_toml(engine, removed, renamed + SLA, actor="ria@x", path=path)
    assert path.read_bytes() == before and len(_audit(engine)) == 2


def test_the_handoff_stage_cannot_move_while_handoffs_are_open(engine, small):
    path, config = small
    _contact_at(engine, config, "bob@acme.example", "inquiry", "mql")
    moved = FUNNEL.replace('handoff_stage = "mql"', 'handoff_stage = "inquiry"')
    with pytest.raises(FunnelConfigRefused, match=r"1 handoffs are open at 'mql': decide them"):
        funnel_config.edit_from_toml(engine, config, moved + SLA, actor="ria@x", path=path)
    assert path.read_text(encoding="utf-8") == SMALL


def test_a_file_that_cannot_be_replaced_is_left_whole_and_nothing_is_audited(sqlite_engine, small, monkeypatch):
    path, config = small

    def refuse(source, target):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(funnel_config.os, "replace", refuse)
    with pytest.raises(FunnelConfigRefused, match="cannot write .*Permission denied"):
        funnel_config.edit_from_toml(sqlite_engine, config, FUNNEL + SLA, actor="ria@x", path=path)
    assert path.read_text(encoding="utf-8") == SMALL
    assert [name for name in os.listdir(path.parent) if "truce.toml" in name] == ["truce.toml"]  # no temporary left
    assert _audit(sqlite_engine) == []


def test_funnel_keys_spelt_outside_their_table_are_not_rewritten(sqlite_engine, tmp_path):
    path = tmp_path / "truce.toml"
    dotted = "sla.sales.first_touch_hours = 3\n\n" + FUNNEL + TAIL
    path.write_text(dotted, encoding="utf-8")
    config = truce_config.load(path)
    with pytest.raises(FunnelConfigRefused, match="cannot replace without touching other sections"):
        funnel_config.edit_from_toml(sqlite_engine, config, FUNNEL + SLA, actor="ria@x", path=path)
    assert path.read_text(encoding="utf-8") == dotted


# ---- through the API and the web form -------------------------------------------------------------


@pytest.fixture
def served(sqlite_engine, small):
    path, config = small
    tokens = {}
    for name, team in (("ria", "revops"), ("mia", "marketing"), ("eva", "sales")):
        add_user(sqlite_engine, email=f"{name}@yourco.example", team=team, password=PASSWORD)
        tokens[name] = {"authorization": f"Bearer {create_token(sqlite_engine, email=f'{name}@yourco.example')}"}
    app = create_app(sqlite_engine, config, config_path=path)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        client.as_ = tokens
        yield client, app, path


def _body(client) -> dict:
    funnel = client.get("/api/v1/config/funnel", headers=client.as_["ria"]).json()
    del funnel["moves"]
    return {"funnel": funnel, "sla": {"sales": {"first_touch_hours": 4}, "marketing": {}}}


def test_revops_puts_a_new_funnel_and_the_server_uses_it_at_once(served, sqlite_engine):
    client, app, path = served
    old = app.state.config
    body = _body(client)
    body["funnel"]["rejection_reasons"].append({"code": "too_small", "label": "Too small", "exit": "recycled"})
    body["sla"]["sales"]["decision_hours"] = 8
    for who in ("mia", "eva"):
        assert client.put("/api/v1/config/funnel", json=body, headers=client.as_[who]).status_code == 403
    saved = client.put("/api/v1/config/funnel", json=body, headers=client.as_["ria"])
    assert saved.status_code == 200, saved.text
    assert saved.json()["file"] == str(path)
    assert [r["code"] for r in saved.json()["funnel"]["rejection_reasons"]] == ["no_budget", "too_small"]
    assert saved.json()["sla"]["sales"]["decision_hours"] == 8
    assert app.state.config is not old and [r.code for r in old.funnel.rejection_reasons] == ["no_budget"]
    shown = client.get("/api/v1/config/funnel", headers=client.as_["eva"]).json()
    assert [r["code"] for r in shown["rejection_reasons"]] == ["no_budget", "too_small"]
    assert tomllib.loads(path.read_text(encoding="utf-8"))["sla"]["sales"]["decision_hours"] == 8
    # The new reason is one sales may give straight away.
    _contact_at(sqlite_engine, old, "cy@acme.example", "inquiry", "mql")
    rejected = client.post(
        "/api/v1/handoffs/cy@acme.example/reject", json={"reason": "too_small"}, headers=client.as_["eva"]
    )
    assert rejected.status_code == 200, rejected.text
    [entry] = _audit(sqlite_engine)
    assert entry.actor == "ria@yourco.example"


def _renamed_exit(body: dict) -> None:
    body["funnel"]["exits"][0]["key"] = "nurture"
    body["funnel"]["rejection_reasons"][0]["exit"] = "nurture"


@pytest.mark.parametrize(
    ("change", "path", "words"),
    [
        (lambda b: b["sla"]["sales"].update(first_touch_hours="4"), "body.sla.sales.first_touch_hours", "number"),
        (lambda b: b["sla"]["sales"].update(min_attempts=True), "body.sla.sales.min_attempts", "integer"),
        (lambda b: b["funnel"]["stages"][0].update(colour="blue"), "body.funnel.stages.0.colour", "not permitted"),
        (lambda b: b["funnel"]["stages"][2].update(label="S\u0000L"), "body.funnel.stages.2.label", "NUL"),
        (lambda b: b["funnel"].update(handoff_stage="sql"), "body.funnel", "handoff_stage 'sql' is not one of"),
        (lambda b: b.pop("sla"), "body.sla", "required"),
        (lambda b: b["sla"]["sales"].update(decision_hours=10**9), "body.sla.sales.decision_hours", "cannot count"),
        (lambda b: b["funnel"]["exits"][0].update(key="nurture"), "body.funnel", "exits to 'recycled'"),
        # [custody] of the file names "recycled": a rule of the whole file, which the new funnel broke
        (_renamed_exit, "body.funnel", "custody.final_stages: unknown stage 'recycled'"),
    ],
)
def test_bad_funnel_bodies_are_refused_with_their_paths_and_nothing_changes(served, change, path, words):
    client, app, file = served
    old, body = app.state.config, _body(client)
    change(body)
    refused = client.put("/api/v1/config/funnel", json=body, headers=client.as_["ria"])
    assert refused.status_code == 422, refused.text
    assert [(e["path"], words in e["message"]) for e in refused.json()["errors"]] == [(path, True)]
    assert app.state.config is old and file.read_text(encoding="utf-8") == SMALL


def test_removing_a_stage_in_use_through_the_api_is_a_conflict(served, sqlite_engine):
    client, app, file = served
    _contact_at(sqlite_engine, app.state.config, "dee@acme.example", "inquiry", "mql", "sal")
    body = _body(client)
    body["funnel"]["stages"] = [s for s in body["funnel"]["stages"] if s["key"] != "sal"] + [
        {"key": "accepted", "label": "Accepted", "team": "sales"}
    ]
    body["funnel"]["accepted_stage"] = "accepted"
    refused = client.put("/api/v1/config/funnel", json=body, headers=client.as_["ria"])
    assert refused.status_code == 409
    assert "'sal': 1 contacts stand at it, 1 ledger moves name it" in refused.json()["error"]
    assert file.read_text(encoding="utf-8") == SMALL


def _logged_in(client, name: str) -> str:
    client.post("/login", data={"email": f"{name}@yourco.example", "password": PASSWORD})
    page = client.get("/funnel", headers={"accept": "text/html"})
    assert page.status_code == 200
    return page.text


def test_revops_edits_the_funnel_on_its_page_and_sees_each_mistake(served, sqlite_engine):
    client, app, path = served
    page = _logged_in(client, "ria")
    assert f'<code data-testid="config-file">{path}</code>' in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    text = unescape(re.search(r'<textarea name="toml"[^>]*>(.*?)</textarea>', page, re.S)[1])
    assert text == FUNNEL + SLA.rstrip("\n") + "\n"
    html = {"accept": "text/html"}
    wrong = text.replace('team = "sales"', 'team = "finance"', 1)
    refused = client.post("/funnel/config", data={"toml": wrong, "csrf": csrf}, headers=html)
    assert refused.status_code == 400
    errors = unescape(re.search(r'data-testid="config-errors">(.*?)</div>', refused.text, re.S)[1])
    assert "Nothing was saved." in errors and "line 14, column 1: funnel.stages.1.team: Input should be" in errors
    assert "team = &#34;finance&#34;" in refused.text or "team = &quot;finance&quot;" in refused.text  # as sent
    assert path.read_text(encoding="utf-8") == SMALL
    stale = client.post("/funnel/config", data={"toml": text}, headers=html)
    assert stale.status_code == 403 and path.read_text(encoding="utf-8") == SMALL
    better = text.replace('label = "MQL"', 'label = "Marketing qualified lead"')
    saved = client.post("/funnel/config", data={"toml": better.replace("\n", "\r\n"), "csrf": csrf}, headers=html)
    assert saved.status_code == 200
    flash = unescape(re.search(r'<p class="flash ok"[^>]*>(.*?)</p>', saved.text, re.S)[1])
    assert flash == f"Saved [funnel] and [sla] to {path}: every page and the API use them now."
    # [sla] now follows [funnel]; every other line is where it was.
    renamed = FUNNEL.replace('label = "MQL"', 'label = "Marketing qualified lead"')
    assert path.read_text(encoding="utf-8") == HEAD + renamed + SLA + HOURS + TAIL
    assert app.state.config.funnel.stages[1].label == "Marketing qualified lead"
    assert [(e.actor, e.after["funnel"]["stages"][1]["label"]) for e in _audit(sqlite_engine)] == [
        ("ria@yourco.example", "Marketing qualified lead")
    ]


def test_only_revops_sees_and_may_send_the_funnel_form(served):
    client, _, path = served
    page = _logged_in(client, "mia")
    assert 'action="/funnel/config"' not in page and "<textarea" not in page
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)[1]
    refused = client.post("/funnel/config", data={"toml": FUNNEL + SLA, "csrf": csrf}, headers={"accept": "text/html"})
    assert refused.status_code == 403 and "a marketing user may not change the funnel definition" in refused.text
    assert path.read_text(encoding="utf-8") == SMALL
