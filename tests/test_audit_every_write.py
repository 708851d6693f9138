"""Every write through every face lands in the audit trail in the writer's name, with before and after.

The routes and commands are enumerated from the app and the CLI themselves: a write route of
the OpenAPI document, a form route of the web pages or a `truce` command that these tables
do not name fails the test, so nothing new ships unaudited by accident. Each write is made
as a user allowed to make it, and the audit entries it adds are compared, one by one, with
entries written out by hand here: the actor (the caller's email; for the CLI the `--as`
user, else "cli"), the action, the record, and its fields before and after.

Each write moves the data revision (truce.store.revision) exactly when it changed data: a log-in,
a log-out, a token or a funnel edit (a file, not the store's data) leave it where it was, so the
report caches keyed on it keep their answers.

Each write also leaves every stage-ledger and audit row written before it exactly as it was:
no face edits or deletes them. Underneath, the database refuses it too: tests/test_store.py
checks the triggers against UPDATE and DELETE on stage_changes and DELETE on audit_log; the
one it leaves out, UPDATE on audit_log, is here.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from unittest.mock import ANY

import pytest
from conftest import writing
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from truce import config as truce_config
from truce.services import discounts, feedback, records, revocation, targets
from truce.services.logins import add_user, create_token
from truce.store import db
from truce.store.models import AuditEntry, Handoff, SlaEvent, StageChange
from truce.store.revision import data_revision
from truce.web.app import create_app

PASSWORD = "correct horse battery"
PEOPLE = {"eva": "sales", "mia": "marketing", "ria": "revops"}
EMAIL = {name: f"{name}@yourco.example" for name in PEOPLE}
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# 71 of 100 (the score is the sum of the 20 ratings): aligned.
RATINGS = [4, 3, 5, 2, 4, 4, 3, 3, 5, 4, 2, 3, 4, 4, 3, 5, 2, 3, 4, 4]
NEW = object()  # the id of the record the write created, as its answer gives it


# ---- what a write must leave in the trail ---------------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A record of the scene by name; the test puts its id in place."""

    name: str


@dataclass(frozen=True)
class Where:
    """A value checked by `holds(value, scene)` where the exact value is the service's own business."""

    holds: Callable
    says: str

    def __repr__(self) -> str:
        return f"<{self.says}>"


@dataclass(frozen=True)
class Entry:
    action: str
    entity_type: str
    entity: object  # a Ref, NEW, ANY or None
    before: object
    after: object


@dataclass(frozen=True)
class Write:
    caller: str  # a name in PEOPLE
    url: str  # {names} are the scene's ids
    body: object  # JSON (API), form fields (web), or a function of the scene giving them
    entries: tuple[Entry, ...]
    prepare: Callable | None = None  # prepare(engine, scene): what the write needs beyond the scene


def _stage(name: str, label: str) -> Where:
    def holds(sections, scene) -> bool:
        return {s["key"]: s["label"] for s in sections["funnel"]["stages"]}.get(name) == label

    return Where(holds, f"[funnel] with stage {name} labelled {label!r}")


def _the_file(value, scene) -> bool:
    return Path(value).resolve() == scene.config_file.resolve()


def _config_edit(label_before: str, label_after: str) -> Entry:
    before = _stage("sql", label_before)
    after = _stage("sql", label_after)
    both = Where(
        lambda d, scene: set(d) == {"funnel", "sla", "file", "version"}
        and after.holds(d, scene)
        and _the_file(d["file"], scene)
        and d["version"] == 1,  # the store's first saved version
        f"{after.says}, the file written and version 1",
    )
    sections = Where(lambda d, scene: set(d) == {"funnel", "sla"} and before.holds(d, scene), before.says)
    return Entry("funnel_config_edit", "config", None, sections, both)


def _funnel_json(scene) -> dict:
    """The [funnel] and [sla] the server has, as JSON, with one label changed: nothing the records use."""
    funnel = scene.config.funnel.model_dump(mode="json", exclude_none=True)
    for stage in funnel["stages"]:
        if stage["key"] == "sql":
            stage["label"] = "Sales-qualified lead"
    return {"funnel": funnel, "sla": scene.config.sla.model_dump(mode="json")}


def _funnel_toml(scene) -> dict:
    from truce.services.funnel_config import current_text

    now = current_text(scene.config, scene.config_file)
    assert 'label = "Sales qualified lead"' in now
    return {"toml": now.replace('label = "Sales qualified lead"', 'label = "Sales-qualified lead"')}


def _stage_move(contact: str, before: str, after: str, reason: str | None = None) -> Entry:
    return Entry("stage_move", "contact", Ref(contact), {"stage": before}, {"stage": after, "reason": reason})


SAM = "sam@yourco.example"  # a second seller, added after the leads were routed (all to eva)
ASSIGNED = Entry("handoff_assign", "handoff", Ref("ann_handoff"), {"owner": EMAIL["eva"]}, {"owner": SAM})
# The seller's desk (truce.services.desk): a touch, a claim of a lead nobody owns, an undo of an accept.
TOUCHED = Entry("handoff_touch", "touchpoint", ANY, None,
                {"contact": "ann@acme.example", "kind": "call", "occurred_at": ANY, "first_touch": ANY})  # fmt: skip
CLAIMED = Entry("handoff_claim", "handoff", Ref("ann_handoff"), {"owner": None}, {"owner": EMAIL["eva"]})
UNDONE = (
    _stage_move("ann", "sal", "mql", "undo"),
    Entry("handoff_undo", "handoff", Ref("ann_handoff"), {"status": "accepted", "stage": "sal"},
          {"status": "open", "stage": "mql"}),
)  # fmt: skip


def _ann_is_nobodys(engine, scene) -> None:
    from sqlalchemy import update

    from truce.store.models import Contact

    with writing(engine, "setup") as conn:
        conn.execute(update(Handoff).where(Handoff.id == scene.ids["ann_handoff"]).values(owner_id=None))
        conn.execute(update(Contact).where(Contact.id == scene.ids["ann"]).values(owner_id=None))


def _eva_accepted_ann(engine, scene) -> None:
    from truce.services import handoff

    handoff.accept(engine, scene.config, "ann@acme.example", EMAIL["eva"])


def _target_entry() -> Entry:
    target = {"id": Ref("q1_revenue"), "metric": "revenue", "team": "shared", "period": "2027-Q1",
              "period_start": "2027-01-01", "period_end": "2027-03-31"}  # fmt: skip
    return Entry("target_set", "target", Ref("q1_revenue"), {**target, "amount": "2000000.00"},
                 {**target, "amount": "2500000.00"})  # fmt: skip


def _survey_entries(who: str, source: str) -> tuple[Entry, ...]:
    team = PEOPLE[who]
    answer = {"round": "2027-Q1", "respondent": EMAIL[who], "team": team, "role": "staff", "source": source,
              "ratings": RATINGS, "score": 71}  # fmt: skip
    return (
        Entry("create", "survey_round", ANY, None, {"name": "2027-Q1"}),
        Entry("create", "survey_response", ANY, None, answer),
    )


ANSWERED = Entry(
    "feedback_answer", "feedback_item", Ref("pilot"), {"status": "new", "reply": None},
    {"status": "acted_on", "reply": "Battle card updated"},
)  # fmt: skip
SAID = {"text": "Castellan cut its price by 20% for Q4", "kind": "pricing"}
NEW_PASSWORD = "staple battery horse"
OLD = "old@yourco.example"  # a user RevOps deactivated
SPARE = {"user": EMAIL["eva"], "name": "spare"}
REVOKED = Entry(
    "token_revoke", "api_token", Ref("eva_token"), {**SPARE, "revoked_at": None}, {**SPARE, "revoked_at": ANY}
)
DEACTIVATED = Entry(
    "user_deactivate", "user", Ref("eva"), {"active": True, "sessions": 0}, {"active": False, "sessions": 0}
)
ACTIVATED = Entry("user_activate", "user", Ref("old"), {"active": False}, {"active": True})
SESSIONS_ENDED = Entry("sessions_end", "user", Ref("eva"), {"sessions": 0}, {"sessions": 0})


def _password_change(sessions: int, tokens: list) -> Entry:
    """Sessions other than the one asking end (there are none here); tokens stay unless asked."""
    kept = {"sessions": sessions, "tokens": tokens}
    return Entry("password_change", "user", Ref("eva"), kept, kept)


# The joint meeting of 2026-W40 is in the scene (one agenda item, one decision owned by eva).
MEETING_ATTEND = Entry("meeting_attend", "meeting", Ref("meeting"), None, {"attendees": [EMAIL["mia"]]})
DECIDED = {
    "meeting": "2026-W40",
    "item": 1,
    "text": "decide on 3 stalled deals",
    "owner": EMAIL["mia"],
    "due_on": "2999-12-31",
    "indicator": "feedback.answered_share",
    "indicator_value": None,
    "state": "open",
}
DECISION_DONE = Entry(
    "decision_done", "decision", Ref("decision"), {"state": "open", "note": None}, {"state": "done", "note": "Called"}
)
DECISION_DROPPED = Entry(
    "decision_drop",
    "decision",
    Ref("decision"),
    {"state": "open", "note": None},
    {"state": "dropped", "note": "Not needed"},
)
ADOPTED = {
    "move": "joint_training",
    "owner": EMAIL["mia"],
    "started_on": "2026-12-01",
    "indicators": ["feedback.answered_share"],
    "baseline": {"feedback.answered_share": None},
    "state": "active",
    "note": None,
}

NOTE_READ = Entry("notification_read", "notification", Ref("eva_note"), {"read_at": None}, {"read_at": ANY})
# Eva's inbox in the scene: ann and bob routed to her as they became MQLs, and the message
# _a_notification_for puts there — three unread.
ALL_READ = Entry("notifications_read_all", "user", Ref("eva"), None, {"marked_read": 3})
# The preferences form sends every kind: a box left unticked is a channel not wanted.
EVA_CHOSE = {
    kind: []
    for kind in (
        "lead_routed",
        "sla_due_soon",
        "sla_breach",
        "sla_escalated",
        "mql_pace",
        "feedback_waiting",
        "decision_due",
        "brief_ready",
        "discount_approval",
        "survey_reminder",
    )
}
EVA_CHOSE["sla_breach"] = ["inbox", "email"]
RETRIED = Entry(
    "notifications_retry", "deliveries", None, None, {"delivery": None, "retried": 0, "channels_cleared": 0}
)
HEARD = {**SAID, "contact_id": None, "opportunity_id": None, "campaign_id": None, "status": "new"}
# eva's open request for 25 % off her deal (limit: max_discount, 15 %), made in the scene.
ASKED = {"opportunity_id": Ref("eva_deal"), "requested_discount": "0.2500", "policy_limit": "0.1500",
         "reason": "competitor", "state": "requested", "due_at": ANY, "note": None}  # fmt: skip
NEW_ASK = Entry("discount_request", "discount_approval", NEW, None,
                {**ASKED, "opportunity_id": Ref("eva_deal2"), "requested_discount": "0.3000", "reason": "multi_year"})  # fmt: skip
NEW_ASK_ANY = Entry(NEW_ASK.action, NEW_ASK.entity_type, ANY, NEW_ASK.before, NEW_ASK.after)  # forms and commands
ASK_BODY = {"opportunity_id": Ref("eva_deal2"), "discount": 0.3, "reason": "multi_year"}


def _answered(state: str, note: str | None) -> Entry:
    action = {"approved": "discount_approve", "refused": "discount_refuse", "withdrawn": "discount_withdraw"}[state]
    return Entry(action, "discount_approval", Ref("ask"), ASKED, {**ASKED, "state": state, "note": note})


# (method, path) of every write route in the OpenAPI document → one valid write and its audit entries.
API_WRITES: dict[tuple[str, str], Write] = {
    ("POST", "/api/v1/accounts"): Write(
        "eva", "/api/v1/accounts",
        {"name": "Globex", "domain": "https://www.Globex.example/", "segment": "enterprise", "owner": EMAIL["eva"]},
        (Entry("create", "account", NEW, None, {"name": "Globex", "domain": "globex.example", "segment": "enterprise",
                                                "owner_id": Ref("eva"), "is_key_account": False}),),
    ),
    ("PATCH", "/api/v1/accounts/{account_id}"): Write(
        "mia", "/api/v1/accounts/{acme}", {"segment": "enterprise"},
        (Entry("update", "account", Ref("acme"), {"segment": "mid-market"}, {"segment": "enterprise"}),),
    ),
    ("POST", "/api/v1/contacts"): Write(
        "eva", "/api/v1/contacts", {"email": "Cy@Globex.example", "first_name": "Cy"},
        (Entry("create", "contact", NEW, None, {"email": "cy@globex.example", "first_name": "Cy", "stage": "inquiry"}),),
    ),
    ("PATCH", "/api/v1/contacts/{contact_id}"): Write(
        "eva", "/api/v1/contacts/{ann}", {"title": "CFO", "phone": None},
        (Entry("update", "contact", Ref("ann"), {"title": None}, {"title": "CFO"}),),
    ),
    ("POST", "/api/v1/campaigns"): Write(
        "mia", "/api/v1/campaigns", {"name": "Spring webinar", "channel": "Webinar", "starts_on": "2027-03-01"},
        (Entry("create", "campaign", NEW, None, {"name": "Spring webinar", "channel": "webinar",
                                                 "owning_team": "marketing", "starts_on": "2027-03-01"}),),
    ),
    ("PATCH", "/api/v1/campaigns/{campaign_id}"): Write(
        "mia", "/api/v1/campaigns/{webinar}", {"ends_on": "2026-12-31"},
        (Entry("update", "campaign", Ref("webinar"), {"ends_on": None}, {"ends_on": "2026-12-31"}),),
    ),
    ("PUT", "/api/v1/campaigns/{campaign_id}/cost"): Write(
        "mia", "/api/v1/campaigns/{webinar}/cost", {"budget": "5000.00", "actual_cost": "1234.50"},
        (Entry("campaign_cost", "campaign", Ref("webinar"), {"budget": None, "actual_cost": None},
               {"budget": "5000.00", "actual_cost": "1234.50"}),),
    ),
    ("POST", "/api/v1/opportunities"): Write(
        "eva", "/api/v1/opportunities",
        {"name": "Globex platform", "amount": "12000.00", "list_amount": "15000.00", "stage": "Proposal"},
        # status from the deal stage, the company's currency, and the discount 1 − 12,000 / 15,000
        (Entry("create", "opportunity", NEW, None, {"name": "Globex platform", "amount": "12000.00",
                                                    "list_amount": "15000.00", "stage": "Proposal", "status": "open",
                                                    "currency": "USD", "discount_rate": "0.2000"}),),
    ),
    ("PATCH", "/api/v1/opportunities/{opportunity_id}"): Write(
        "eva", "/api/v1/opportunities/{deal}", {"stage": "Closed Won"},
        (Entry("update", "opportunity", Ref("deal"), {"stage": "Negotiation", "status": "open"},
               {"stage": "Closed Won", "status": "won"}),),
    ),
    ("POST", "/api/v1/users"): Write(
        "ria", "/api/v1/users", {"email": "Nia@yourco.example", "team": "marketing", "role": "viewer"},
        (Entry("user_add", "user", NEW, None, {"email": "nia@yourco.example", "team": "marketing", "access": "viewer",
                                               "password_set": False}),),
    ),
    ("POST", "/api/v1/handoffs/{contact}/accept"): Write(
        "eva", "/api/v1/handoffs/ann@acme.example/accept", None, (_stage_move("ann", "mql", "sal"),),
    ),
    ("POST", "/api/v1/handoffs/{contact}/reject"): Write(
        "eva", "/api/v1/handoffs/{bob}/reject", {"reason": "no_budget", "note": "Budget opens in Q3"},
        (_stage_move("bob", "mql", "recycled", "no_budget"),),
    ),
    ("POST", "/api/v1/handoffs/{contact}/assign"): Write(
        "ria", "/api/v1/handoffs/{ann}/assign", {"owner": SAM}, (ASSIGNED,),
    ),
    ("POST", "/api/v1/handoffs/{contact}/touch"): Write(
        "eva", "/api/v1/handoffs/ann@acme.example/touch", {"kind": "call"}, (TOUCHED,),
    ),
    ("POST", "/api/v1/handoffs/{contact}/claim"): Write(
        "eva", "/api/v1/handoffs/{ann}/claim", None, (CLAIMED,), _ann_is_nobodys,
    ),
    ("POST", "/api/v1/handoffs/{contact}/undo"): Write(
        "eva", "/api/v1/handoffs/ann@acme.example/undo", None, UNDONE, _eva_accepted_ann,
    ),
    ("POST", "/api/v1/feedback"): Write(
        "eva", "/api/v1/feedback", {**SAID, "deal_id": Ref("deal")},
        (Entry("feedback_add", "feedback_item", NEW, None, {**HEARD, "opportunity_id": Ref("deal")}),),
    ),
    ("POST", "/api/v1/feedback/{item_id}/answer"): Write(
        "mia", "/api/v1/feedback/{pilot}/answer", {"status": "acted_on", "reply": "Battle card updated"}, (ANSWERED,),
    ),
    ("PUT", "/api/v1/targets"): Write(
        "ria", "/api/v1/targets", {"metric": "revenue", "period": "2027-Q1", "amount": "2500000"}, (_target_entry(),),
    ),
    ("POST", "/api/v1/survey/responses"): Write(
        "eva", "/api/v1/survey/responses", {"ratings": RATINGS, "round": "2027-Q1"}, _survey_entries("eva", "web"),
    ),
    ("PUT", "/api/v1/account-plans/{account}"): Write(
        "ria", "/api/v1/account-plans/acme.example",
        {"liaison": EMAIL["mia"], "owner": EMAIL["eva"], "next_action": "Joint workshop",
         "next_action_due": "2027-01-15"},
        (Entry("account_plan_create", "account_plan", ANY, None,
               {"liaison_id": Ref("mia"), "owner_id": Ref("eva"), "objectives": None, "next_action": "Joint workshop",
                "next_action_due": "2027-01-15"}),
         Entry("key_account", "account", Ref("acme"), {"is_key_account": False}, {"is_key_account": True})),
    ),
    ("PUT", "/api/v1/config/funnel"): Write(
        "ria", "/api/v1/config/funnel", _funnel_json, (_config_edit("Sales qualified lead", "Sales-qualified lead"),),
    ),
    # A batch is one entry: what arrived (its digest) and what it changed; records it updates get one each.
    ("POST", "/api/v1/ingest/touchpoints"): Write(
        "ria", "/api/v1/ingest/touchpoints",
        {"items": [{"external_id": "T1", "contact_email": "ann@acme.example", "channel": "webinar",
                    "touch_type": "webinar", "occurred_at": "2026-11-03T10:00:00+00:00"}]},
        (Entry("ingest", "touchpoints", ANY, None,
               {"file_sha256": ANY, "rows_read": 1, "inserted": 1, "updated": 0, "unchanged": 0}),),
    ),
    ("POST", "/api/v1/ingest/stage-changes"): Write(
        "ria", "/api/v1/ingest/stage-changes",
        {"items": [{"external_id": "M1", "contact_email": "cy@acme.example", "to_stage": "mql",
                    "changed_at": "2026-11-03T10:00:00+00:00"}]},
        (Entry("ingest", "stage_changes", ANY, None,
               {"file_sha256": ANY, "rows_read": 1, "inserted": 1, "updated": 0, "unchanged": 0}),),
    ),
    ("POST", "/api/v1/tokens/{token_id}/revoke"): Write("eva", "/api/v1/tokens/{eva_token}/revoke", None, (REVOKED,)),
    ("POST", "/api/v1/users/{user_id}/deactivate"): Write("ria", "/api/v1/users/{eva}/deactivate", None, (DEACTIVATED,)),
    ("POST", "/api/v1/users/{user_id}/activate"): Write("ria", "/api/v1/users/{old}/activate", None, (ACTIVATED,)),
    ("POST", "/api/v1/users/{user_id}/sessions/end"): Write(
        "ria", "/api/v1/users/{eva}/sessions/end", None, (SESSIONS_ENDED,),
    ),
    ("POST", "/api/v1/meetings"): Write(
        "ria", "/api/v1/meetings", {"period": "2026-W40", "attendees": [EMAIL["mia"]]}, (MEETING_ATTEND,),
    ),
    ("POST", "/api/v1/decisions"): Write(
        "ria", "/api/v1/decisions",
        {"period": "2026-W40", "item": 1, "owner": EMAIL["mia"], "due": "2999-12-31", "indicator": "feedback.answered_share"},
        (Entry("decision_record", "decision", NEW, None, DECIDED),),
    ),
    ("POST", "/api/v1/decisions/{decision_id}/done"): Write(
        "eva", "/api/v1/decisions/{decision}/done", {"note": "Called"}, (DECISION_DONE,),
    ),
    ("POST", "/api/v1/decisions/{decision_id}/drop"): Write(
        "ria", "/api/v1/decisions/{decision}/drop", {"note": "Not needed"}, (DECISION_DROPPED,),
    ),
    ("POST", "/api/v1/initiatives"): Write(
        "ria", "/api/v1/initiatives",
        {"move": "joint_training", "owner": EMAIL["mia"], "start": "2026-12-01", "indicators": ["feedback.answered_share"]},
        (Entry("initiative_adopt", "initiative", NEW, None, ADOPTED),),
    ),
    # the caller's token (made for the test) and the spare one
    ("POST", "/api/v1/discount-approvals"): Write("eva", "/api/v1/discount-approvals", ASK_BODY, (NEW_ASK,)),
    ("POST", "/api/v1/discount-approvals/{approval_id}/approve"): Write(
        "ria", "/api/v1/discount-approvals/{ask}/approve", {"note": "ok"}, (_answered("approved", "ok"),),
    ),
    ("POST", "/api/v1/discount-approvals/{approval_id}/refuse"): Write(
        "ria", "/api/v1/discount-approvals/{ask}/refuse", {"note": "no"}, (_answered("refused", "no"),),
    ),
    ("POST", "/api/v1/discount-approvals/{approval_id}/withdraw"): Write(
        "eva", "/api/v1/discount-approvals/{ask}/withdraw", {}, (_answered("withdrawn", None),),
    ),
    ("PUT", "/api/v1/me/password"): Write(
        "eva", "/api/v1/me/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        (_password_change(0, [Ref("eva_token"), ANY]),),
    ),
    ("POST", "/api/v1/notifications/{notification_id}/read"): Write(
        "eva", "/api/v1/notifications/{eva_note}/read", None, (NOTE_READ,),
    ),
    ("POST", "/api/v1/notifications/read-all"): Write("eva", "/api/v1/notifications/read-all", None, (ALL_READ,)),
    ("PUT", "/api/v1/me/notification-preferences"): Write(
        "eva", "/api/v1/me/notification-preferences", {"channels": {"mql_pace": ["inbox"]}},
        (Entry("notification_preferences_set", "users", Ref("eva"), {}, {"mql_pace": ["inbox"]}),),
    ),
}  # fmt: skip

# Path of every form route of the web pages → one valid post and its audit entries.
WEB_WRITES: dict[str, Write] = {
    "/login": Write(
        "eva", "/login", {"email": EMAIL["eva"], "password": PASSWORD},
        (Entry("log_in", "user", Ref("eva"), None, {"session_expires_at": ANY}),),
    ),
    "/logout": Write(
        "eva", "/logout", {}, (Entry("log_out", "user", Ref("eva"), {"session_expires_at": ANY}, None),),
    ),
    "/handoffs/accept": Write("eva", "/handoffs/accept", {"email": "ann@acme.example"},
                              (_stage_move("ann", "mql", "sal"),)),
    "/handoffs/reject": Write(
        "eva", "/handoffs/reject", {"email": "bob@acme.example", "reason": "no_budget", "note": "Q3"},
        (_stage_move("bob", "mql", "recycled", "no_budget"),),
    ),
    "/handoffs/assign": Write("ria", "/handoffs/assign", {"email": "ann@acme.example", "owner": SAM}, (ASSIGNED,)),
    "/handoffs/touch": Write("eva", "/handoffs/touch", {"email": "ann@acme.example", "kind": "call"}, (TOUCHED,)),
    "/handoffs/claim": Write("eva", "/handoffs/claim", {"email": "ann@acme.example"}, (CLAIMED,), _ann_is_nobodys),
    "/handoffs/undo": Write("eva", "/handoffs/undo", {"email": "ann@acme.example"}, UNDONE, _eva_accepted_ann),
    "/targets": Write(
        "ria", "/targets",
        {"metric": "revenue", "team": "shared", "period": "2027-Q1", "amount": "2500000", "confirm": "replace"},
        (_target_entry(),),
    ),
    "/feedback": Write("eva", "/feedback", SAID, (Entry("feedback_add", "feedback_item", ANY, None, HEARD),)),
    "/feedback/{item_id}/answer": Write(
        "mia", "/feedback/{pilot}/answer", {"status": "acted_on", "reply": "Battle card updated"}, (ANSWERED,),
    ),
    "/survey": Write(
        "mia", "/survey", {"round": "2027-Q1", **{f"s{n}": str(r) for n, r in enumerate(RATINGS, 1)}},
        _survey_entries("mia", "web"),
    ),
    "/funnel/config": Write(
        "ria", "/funnel/config", _funnel_toml, (_config_edit("Sales qualified lead", "Sales-qualified lead"),),
    ),
    "/economics/discounts/request": Write(
        "eva", "/economics/discounts/request",
        {"opportunity_id": Ref("eva_deal2"), "discount_percent": "30", "reason": "multi_year"}, (NEW_ASK_ANY,),
    ),
    "/economics/discounts/{approval_id}/approve": Write(
        "ria", "/economics/discounts/{ask}/approve", {"note": "ok"}, (_answered("approved", "ok"),),
    ),
    "/economics/discounts/{approval_id}/refuse": Write(
        "ria", "/economics/discounts/{ask}/refuse", {"note": "no"}, (_answered("refused", "no"),),
    ),
    "/access/tokens/{token_id}/revoke": Write("eva", "/access/tokens/{eva_token}/revoke", {}, (REVOKED,)),
    "/access/users/{user_id}/deactivate": Write("ria", "/access/users/{eva}/deactivate", {}, (DEACTIVATED,)),
    "/access/users/{user_id}/activate": Write("ria", "/access/users/{old}/activate", {}, (ACTIVATED,)),
    "/access/users/{user_id}/sessions/end": Write("ria", "/access/users/{eva}/sessions/end", {}, (SESSIONS_ENDED,)),
    "/meetings/start": Write("ria", "/meetings/start", {"period": "2026-W40", "attendees": EMAIL["mia"]}, (MEETING_ATTEND,)),
    "/meetings/decide": Write(
        "ria", "/meetings/decide",
        {"period": "2026-W40", "item": "1", "owner": EMAIL["mia"], "due": "2999-12-31", "indicator": "feedback.answered_share"},
        (Entry("decision_record", "decision", ANY, None, DECIDED),),
    ),
    "/decisions/{decision_id}/done": Write("eva", "/decisions/{decision}/done", {"note": "Called"}, (DECISION_DONE,)),
    "/decisions/{decision_id}/drop": Write("ria", "/decisions/{decision}/drop", {"note": "Not needed"}, (DECISION_DROPPED,)),
    "/initiatives": Write(
        "ria", "/initiatives",
        {"move": "joint_training", "owner": EMAIL["mia"], "start": "2026-12-01", "indicators": "feedback.answered_share"},
        (Entry("initiative_adopt", "initiative", ANY, None, ADOPTED),),
    ),
    "/survey/rounds": Write(
        "ria", "/survey/rounds", {"name": "2027-Q3"}, (Entry("create", "survey_round", ANY, None, {"name": "2027-Q3"}),),
    ),
    "/survey/rounds/remind": Write(
        "ria", "/survey/rounds/remind", {"round": "2027-Q2"},  # asked: eva, sam (sales) and mia (marketing)
        (Entry("survey_reminder", "survey_round", Ref("q2_round"), None,
               {"round": "2027-Q2", "waiting": 3, "reminded": 3}),),
    ),
    "/account-plans": Write(
        "ria", "/account-plans",
        {"account": "acme.example", "liaison": EMAIL["mia"], "owner": EMAIL["eva"], "next_action": "Joint workshop",
         "next_action_due": "2027-01-15"},
        (Entry("account_plan_create", "account_plan", ANY, None,
               {"liaison_id": Ref("mia"), "owner_id": Ref("eva"), "objectives": None, "next_action": "Joint workshop",
                "next_action_due": "2027-01-15"}),
         Entry("key_account", "account", Ref("acme"), {"is_key_account": False}, {"is_key_account": True})),
    ),
    "/users/{user_id}": Write(
        "ria", "/users/{sam}", {"team": "marketing", "access": "member"},
        (Entry("user_update", "user", Ref("sam"), {"team": "sales"}, {"email": SAM, "team": "marketing"}),),
    ),
    "/campaign-costs/{campaign_id}": Write(
        "mia", "/campaign-costs/{webinar}", {"budget": "5,000", "actual_cost": "1234.50"},
        (Entry("campaign_cost", "campaign", Ref("webinar"), {"budget": None, "actual_cost": None},
               {"budget": "5000.00", "actual_cost": "1234.50"}),),
    ),
    # the form's own session stays
    "/access/password": Write(
        "eva", "/access/password",
        {"current_password": PASSWORD, "new_password": NEW_PASSWORD, "repeat_password": NEW_PASSWORD},
        (_password_change(1, [Ref("eva_token")]),),
    ),
    "/notifications/{notification_id}/read": Write("eva", "/notifications/{eva_note}/read", {}, (NOTE_READ,)),
    "/notifications/read-all": Write("eva", "/notifications/read-all", {}, (ALL_READ,)),
    "/notifications/preferences": Write(
        "eva", "/notifications/preferences", {"sla_breach:inbox": "on", "sla_breach:email": "on"},
        (Entry("notification_preferences_set", "users", Ref("eva"), {}, EVA_CHOSE),),
    ),
    "/notifications/retry": Write("ria", "/notifications/retry", {}, (RETRIED,)),
}  # fmt: skip


# ---- the scene every write starts from ------------------------------------------------------------


@dataclass
class Scene:
    config: truce_config.TruceConfig
    config_file: Path
    ids: dict[str, int] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def fill(self, value):
        """`value` with every Ref replaced by the id it names and every Where bound to this scene."""
        if isinstance(value, Ref):
            return self.ids[value.name]
        if isinstance(value, Where):
            return _Holds(value, self)
        if isinstance(value, dict):
            return {k: self.fill(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.fill(v) for v in value)
        return value


@dataclass(frozen=True)
class _Holds:
    where: Where
    scene: Scene

    def __eq__(self, other) -> bool:
        return isinstance(other, dict) and self.where.holds(other, self.scene)

    def __repr__(self) -> str:
        return repr(self.where)


@pytest.fixture
def scene(engine, tmp_path, cheap_argon2) -> Scene:
    """Three users (with passwords; eva with a spare API token), an account, three leads (two waiting
    at MQL), a campaign, an open deal, one line of feedback, a revenue target and, last, a user RevOps
    deactivated; truce.toml in tmp_path. Passwords are hashed at Argon2's lowest cost: what is
    checked here is the trail, not the hash."""
    path = tmp_path / "truce.toml"
    path.write_text(truce_config.default_text(), encoding="utf-8")
    made = Scene(truce_config.parse(path.read_text(encoding="utf-8"), str(path)), path)
    ids = made.ids
    for name, team in PEOPLE.items():
        ids[name] = add_user(engine, email=EMAIL[name], team=team, password=PASSWORD, actor="setup")

    def create(kind: str, given: dict) -> int:
        return records.create_record(engine, made.config, kind, given, actor_id=ids["ria"], actor="setup")["id"]

    ids["acme"] = create("accounts", {"name": "Acme", "domain": "acme.example", "segment": "mid-market"})
    for name in ("ann", "bob"):
        ids[name] = create("contacts", {"email": f"{name}@acme.example", "account_id": ids["acme"], "stage": "mql"})
    ids["cy"] = create("contacts", {"email": "cy@acme.example", "account_id": ids["acme"]})
    ids["sam"] = add_user(engine, email=SAM, team="sales", actor="setup")
    with engine.connect() as conn:
        ids["ann_handoff"] = conn.execute(select(Handoff.id).where(Handoff.contact_id == ids["ann"])).scalar_one()
    ids["webinar"] = create("campaigns", {"name": "Autumn webinar", "channel": "webinar"})
    deal = {"name": "Acme platform", "account_id": ids["acme"], "amount": Decimal("40000.00"), "stage": "Negotiation"}
    ids["deal"] = create("opportunities", deal)
    ids["pilot"] = feedback.add_feedback(
        engine, text="Castellan offers a free 90-day pilot", kind="competitor", author_email=EMAIL["eva"]
    )["id"]
    ids["q1_revenue"] = targets.set_target(
        engine, metric="revenue", amount="2000000", actor=EMAIL["ria"], period="2027-Q1"
    )["id"]
    create_token(engine, email=EMAIL["eva"], name="spare", actor="setup")
    ids["eva_token"] = revocation.list_tokens(engine, user=EMAIL["eva"])[0]["id"]
    ids["old"] = add_user(engine, email=OLD, team="sales", password=PASSWORD, actor="setup")
    revocation.deactivate_user(engine, OLD, by=None, actor="setup")
    from truce.services import meetings

    agenda = [{"rule": "stalled_deals", "owner": "sales", "text": "decide on 3 stalled deals"}]
    ids["meeting"] = meetings.start_meeting(engine, made.config, period="2026-W40", actor=EMAIL["ria"], agenda=agenda)[
        "id"
    ]
    ids["decision"] = meetings.record_decision(
        engine, made.config, period="2026-W40", item=1, owner=EMAIL["eva"], due="2999-12-31",
        indicator="cold_leads.sales", actor=EMAIL["ria"],
    )["id"]  # fmt: skip
    priced = {"account_id": ids["acme"], "amount": Decimal("7500.00"), "list_amount": Decimal("10000.00"),
              "stage": "Negotiation", "owner": EMAIL["eva"]}  # fmt: skip
    ids["eva_deal"] = create("opportunities", {"name": "Acme suite", **priced})
    ids["eva_deal2"] = create("opportunities", {"name": "Acme add-on", **priced})
    ids["ask"] = discounts.request(engine, made.config, ids["eva_deal"], "0.25", "competitor", EMAIL["eva"])["id"]
    ids["eva_note"] = _a_notification_for(engine, made.config, ids["eva"])
    from truce.services import survey

    ids["q2_round"] = survey.open_round(engine, "2027-Q2", actor="setup")["id"]
    return made


def _a_notification_for(engine, config, user_id: int) -> int:
    """One message in the user's inbox (owed, then fanned out: no audit entry); its id."""
    from truce.services.notify.delivery import deliver
    from truce.services.notify.inbox import notifications
    from truce.services.notify.outbox import owe

    with writing(engine, "setup") as conn:
        owe(conn, "lead_routed", to_user_id=user_id, subject="New MQL: Ann", text="Ann waits", link="/handoffs")
    deliver(engine, config)
    return notifications(engine, config, user_id)["items"][0]["id"]


# Actions that change no data a report reads: they must leave the data revision where it was.
NOT_DATA = frozenset(
    {"log_in", "log_out", "token_create", "token_revoke", "sessions_end", "funnel_config_edit", "notification_read",
     "notifications_read_all", "notification_preferences_set", "notifications_retry", "survey_reminder"}
)  # fmt: skip
# The scheduler's record of a run is bookkeeping: a job that only tells people something moves no revision.
NOT_DATA = NOT_DATA | {"job_run"}


def _kept(engine) -> dict[str, list[tuple]]:
    """Every row of the stage ledger and the audit trail, in id order, and the data revision."""
    with engine.connect() as conn:
        kept = {
            table.name: [tuple(row) for row in conn.execute(select(table).order_by(table.c.id))]
            for table in (StageChange.__table__, AuditEntry.__table__)
        }
    return {**kept, REVISION: data_revision(engine)}


REVISION = "data revision"


def _check_trail(engine, scene: Scene, kept: dict, write: Write, actor: str, created: int | None = None) -> None:
    """The rows written before are untouched, the write added exactly `write.entries` in `actor`'s name,
    and it moved the data revision exactly when it changed data."""
    now = _kept(engine)
    changes_data = any(e.action not in NOT_DATA for e in write.entries)
    assert (now[REVISION] > kept[REVISION]) == changes_data, f"data revision {kept[REVISION]} → {now[REVISION]}"
    for table, rows in kept.items():
        if table == REVISION:
            continue
        assert now[table][: len(rows)] == rows, f"a {table} row written before this write was changed or removed"
    columns = [c.name for c in AuditEntry.__table__.columns]
    added = [dict(zip(columns, row, strict=True)) for row in now["audit_log"][len(kept["audit_log"]) :]]
    found = [(e["actor"], e["action"], e["entity_type"], e["entity_id"], e["before"], e["after"]) for e in added]
    wanted = [
        (actor, e.action, e.entity_type, created if e.entity is NEW else scene.fill(e.entity), scene.fill(e.before),
         scene.fill(e.after))
        for e in write.entries
    ]  # fmt: skip
    assert found == wanted


def _body(write: Write, scene: Scene):
    return scene.fill(write.body(scene) if callable(write.body) else write.body)


# ---- the REST API ---------------------------------------------------------------------------------


def _app_routes(routes, prefix: str = ""):
    """(path, methods) of every route of the app, pages included (they are not in the OpenAPI document)."""
    for route in routes:
        if hasattr(route, "original_router"):  # recent FastAPI keeps an included router as a branch
            yield from _app_routes(route.original_router.routes, prefix + (route.include_context.prefix or ""))
        elif hasattr(route, "methods") and route.methods:
            yield prefix + route.path, set(route.methods)


APP = create_app(db.connect("sqlite://"), truce_config.parse(truce_config.default_text(), "truce.toml"))
DOCUMENT = APP.openapi()
ROUTES = sorted({(path, frozenset(methods)) for path, methods in _app_routes(APP.routes)})


# Write routes whose trail needs a CRM behind them (a stand-in connector): checked where that CRM is.
ELSEWHERE = {
    ("POST", "/api/v1/connections/{name}/sync"): "each page audited as crm_sync_page (tests/test_connector_pages.py)",
    ("POST", "/hooks/hubspot/{connection}"): "audited as crm_pull by webhook (tests/test_connector_webhooks.py)",
    ("POST", "/hooks/salesforce/{connection}"): "audited as crm_pull by webhook (tests/test_connector_webhooks.py)",
}
WEB_ELSEWHERE = {"/connections/{name}/sync": "each page audited as crm_sync_page (tests/test_connector_pages.py)"}


def test_every_write_route_of_the_api_has_an_audited_example():
    documented = {(m.upper(), path) for path, item in DOCUMENT["paths"].items() for m in item if m.upper() in UNSAFE}
    documented -= set(ELSEWHERE)
    assert documented - set(API_WRITES) == set(), "write routes without an example in API_WRITES"
    assert set(API_WRITES) - documented == set(), "API_WRITES names routes the API does not have"


def test_every_form_of_the_web_pages_has_an_audited_example():
    forms = {path for path, methods in ROUTES if not path.startswith("/api/") and methods & UNSAFE}
    forms -= {path for _, path in ELSEWHERE} | set(WEB_ELSEWHERE)
    assert forms - set(WEB_WRITES) == set(), "form routes without an example in WEB_WRITES"
    assert set(WEB_WRITES) - forms == set(), "WEB_WRITES names form routes the pages do not have"


@pytest.mark.parametrize("route", sorted(API_WRITES), ids=[f"{m} {p}" for m, p in sorted(API_WRITES)])
def test_an_api_write_is_audited_in_the_callers_name_with_before_and_after(engine, scene, route):
    write = API_WRITES[route]
    token = create_token(engine, email=EMAIL[write.caller], actor="setup")
    if write.prepare:
        write.prepare(engine, scene)
    with TestClient(
        create_app(engine, scene.config, config_path=scene.config_file), base_url="http://127.0.0.1"
    ) as client:
        kept = _kept(engine)
        response = client.request(
            route[0],
            write.url.format(**scene.ids),
            json=_body(write, scene),
            headers={"authorization": f"Bearer {token}"},
        )
    assert response.status_code in (200, 201), response.text
    created = response.json().get("id") if any(e.entity is NEW for e in write.entries) else None
    _check_trail(engine, scene, kept, write, EMAIL[write.caller], created)


# ---- the web pages --------------------------------------------------------------------------------


def _browser(engine, scene: Scene) -> TestClient:
    return TestClient(
        create_app(engine, scene.config, config_path=scene.config_file),
        base_url="http://127.0.0.1",
        headers={"accept": "text/html"},
    )


def _log_in(client: TestClient, who: str) -> str:
    """Log `who` in through the form; the session's CSRF token, from a page's forms."""
    response = client.post("/login", data={"email": EMAIL[who], "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/brief").text)[1]


def _flash(packed: str | None) -> dict:
    """The message a form left for the next page (truce.web.pages_base.back), or {}."""
    if not packed:
        return {}
    packed = packed.strip('"')
    return json.loads(base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)))


@pytest.mark.parametrize("path", sorted(WEB_WRITES))
def test_a_web_form_is_audited_in_the_users_name_with_before_and_after(engine, scene, path):
    write = WEB_WRITES[path]
    if write.prepare:
        write.prepare(engine, scene)
    with _browser(engine, scene) as client:
        form = dict(_body(write, scene))
        if path != "/login":
            form["csrf"] = _log_in(client, write.caller)
        kept = _kept(engine)
        response = client.post(write.url.format(**scene.ids), data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    flash = _flash(response.cookies.get("truce_flash"))
    assert flash.get("kind", "ok") == "ok", flash["text"]
    _check_trail(engine, scene, kept, write, EMAIL[write.caller])


# ---- nothing edits or deletes the ledger or the trail ---------------------------------------------


def test_no_route_of_either_face_can_change_the_ledger_or_the_audit_trail():
    by_path: dict[str, set[str]] = {}
    for path, methods in ROUTES:
        by_path.setdefault(path, set()).update(methods)
    assert not any("DELETE" in methods for methods in by_path.values()), "records are corrected, never erased"
    theirs = {p: m for p, m in by_path.items() if re.fullmatch(r"(/api/v1)?/(stage-changes|audit)(/.*)?", p)}
    assert set(theirs) == {"/api/v1/stage-changes", "/api/v1/audit", "/audit"}
    assert all(methods <= {"GET", "HEAD"} for methods in theirs.values()), theirs
    # Ingestion appends to the ledger; tests/test_api_ingest.py shows a move sent again with other values refused.
    ingest = {p for p, m in by_path.items() if m & UNSAFE and re.search("stage.changes", p)}
    assert ingest == {"/api/v1/ingest/stage-changes"}


def test_the_database_refuses_to_rewrite_an_audit_entry(engine):
    add_user(engine, email=EMAIL["ria"], team="revops", actor="setup")
    with pytest.raises(DBAPIError, match="append-only"):
        with writing(engine) as conn:
            conn.execute(text("UPDATE audit_log SET actor = 'someone else'"))
    with engine.connect() as conn:
        assert conn.execute(select(AuditEntry.actor)).scalars().all() == ["setup"]


# ---- revops reads it, through both faces, from one service ----------------------------------------


def _number(entity_id: int | None) -> str:
    return "" if entity_id is None else f" #{entity_id}"


def test_revops_sees_the_same_trail_on_the_page_and_through_the_api(engine, scene):
    token = create_token(engine, email=EMAIL["eva"], actor="setup")
    with TestClient(
        create_app(engine, scene.config, config_path=scene.config_file), base_url="http://127.0.0.1"
    ) as client:
        client.patch(f"/api/v1/accounts/{scene.ids['acme']}", json={"segment": "enterprise"},
                     headers={"authorization": f"Bearer {token}"})  # fmt: skip
    with _browser(engine, scene) as browser:
        _log_in(browser, "ria")
        page = browser.get("/audit", params={"limit": 50})
        api = browser.get("/api/v1/audit", params={"limit": 50}, headers={"accept": "application/json"}).json()
    assert page.status_code == 200
    rows = re.findall(r"<tr><td>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td>", page.text)
    shown = [(html.unescape(actor), action, html.unescape(record)) for actor, action, record in rows]
    listed = [
        (e["actor"], e["action"].replace("_", " "), e["entity_type"].replace("_", " ") + _number(e["entity_id"]))
        for e in api["items"]
    ]
    assert shown == listed
    assert api["items"][0]["actor"] == EMAIL["ria"] and api["items"][0]["action"] == "log_in"
    patched = api["items"][1]
    assert (patched["actor"], patched["before"], patched["after"]) == (
        EMAIL["eva"],
        {"segment": "mid-market"},
        {"segment": "enterprise"},
    )


# ---- the CLI --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unwritten:
    """A command that writes no record of the store; why."""

    why: str


READS = Unwritten("reads the store only")


@dataclass(frozen=True)
class Command:
    args: tuple[str, ...]  # {names} are the scene's ids and files
    actor: str  # whom the trail names
    entries: tuple[Entry, ...]
    input: str | None = None
    prepare: Callable | None = None  # prepare(engine, scene): what the command needs beyond the scene


SWEPT_AT = "2030-01-07T12:00:00+00:00"  # long after every deadline of the scene


def _cy_reached_mql_by_import(engine, scene) -> None:
    """Stage history without a handoff: cy's move to MQL, arrived through an import."""
    from truce.services.ingest import ingest

    moved = [{"external_id": "M1", "contact_email": "cy@acme.example", "to_stage": "mql",
              "changed_at": dt.datetime(2026, 11, 2, 9, tzinfo=dt.UTC).isoformat()}]  # fmt: skip
    ingest(engine, scene.config, "stage_changes", moved, "setup")


def _late_on_both_promises(leads: int) -> dict:
    """The counts of an SLA audit entry: every lead missed its first touch and its decision."""
    return {"breaches_recorded": 2 * leads, "breaches_by_side": {"sales": 2 * leads},
            "breaches_by_kind": {"decision_late": leads, "first_touch_late": leads}}  # fmt: skip


CLI_COMMANDS: dict[str, object] = {
    "accounts plan": Command(
        ("accounts", "plan", "acme.example", "--liaison", EMAIL["mia"], "--owner", EMAIL["eva"], "--next-action",
         "Joint workshop", "--as", EMAIL["ria"]),
        EMAIL["ria"],
        (Entry("account_plan_create", "account_plan", ANY, None,
               {"liaison_id": Ref("mia"), "owner_id": Ref("eva"), "objectives": None, "next_action": "Joint workshop",
                "next_action_due": None}),
         Entry("key_account", "account", Ref("acme"), {"is_key_account": False}, {"is_key_account": True})),
    ),
    "accounts plans": READS,
    "attribution": READS,
    "brief": Unwritten("reads the store; writes the brief to a file"),
    "budget": READS,
    "config check": Unwritten("reads truce.toml"),
    "credit": READS,
    "custody": READS,
    "db current": READS,
    "db downgrade": Unwritten("the schema, the ledger and the trail with it: see test_no_command_drops_the_ledger_…"),
    "db upgrade": Unwritten("the schema"),
    "demo": Unwritten(
        "builds a fake company into an empty store, in the trail as demo_build and sla_rebuild by 'demo'; "
        "--force may drop only the demo's own history: see test_no_command_drops_the_ledger_…"
    ),
    "directory": READS,
    "discount approve": Command(
        ("discount", "approve", "{ask}", "--note", "ok", "--as", EMAIL["ria"]), EMAIL["ria"],
        (_answered("approved", "ok"),),
    ),
    "discount refuse": Command(
        ("discount", "refuse", "{ask}", "--note", "no", "--as", EMAIL["ria"]), EMAIL["ria"],
        (_answered("refused", "no"),),
    ),
    "discount request": Command(
        ("discount", "request", "{eva_deal2}", "--discount", "0.3", "--reason", "multi_year", "--as", EMAIL["eva"]),
        EMAIL["eva"], (NEW_ASK_ANY,),
    ),
    "discount withdraw": Command(
        ("discount", "withdraw", "{ask}", "--as", EMAIL["eva"]), EMAIL["eva"], (_answered("withdrawn", None),),
    ),
    "discounts": READS,
    "export": Unwritten("reads the store; writes a CSV file"),
    "feedback add": Command(
        ("feedback", "add", SAID["text"], "--kind", "pricing", "--as", EMAIL["eva"]),
        EMAIL["eva"],
        (Entry("feedback_add", "feedback_item", ANY, None, HEARD),),
    ),
    "feedback answer": Command(
        ("feedback", "answer", "{pilot}", "--status", "acted_on", "--reply", "Battle card updated", "--as",
         EMAIL["mia"]),
        EMAIL["mia"],
        (ANSWERED,),
    ),
    "feedback list": READS,
    "feedback themes": READS,
    "funnel": READS,
    "handoff accept": Command(
        ("handoff", "accept", "ann@acme.example", "--as", EMAIL["eva"]), EMAIL["eva"],
        (_stage_move("ann", "mql", "sal"),),
    ),
    "handoff assign": Command(
        ("handoff", "assign", "ann@acme.example", "--to", SAM, "--as", EMAIL["ria"]), EMAIL["ria"], (ASSIGNED,),
    ),
    "handoff claim": Command(
        ("handoff", "claim", "ann@acme.example", "--as", EMAIL["eva"]), EMAIL["eva"], (CLAIMED,), prepare=_ann_is_nobodys,
    ),
    "handoff queue": READS,
    "handoff touch": Command(
        ("handoff", "touch", "ann@acme.example", "--kind", "call", "--as", EMAIL["eva"]), EMAIL["eva"], (TOUCHED,),
    ),
    "handoff undo": Command(
        ("handoff", "undo", "ann@acme.example", "--as", EMAIL["eva"]), EMAIL["eva"], UNDONE, prepare=_eva_accepted_ann,
    ),
    "handoff reject": Command(
        ("handoff", "reject", "bob@acme.example", "--reason", "no_budget", "--as", EMAIL["eva"]), EMAIL["eva"],
        (_stage_move("bob", "mql", "recycled", "no_budget"),),
    ),
    "import": Command(
        ("import", "touchpoints", "{touches}", "--as", EMAIL["ria"]),
        EMAIL["ria"],
        (Entry("import", "touchpoints", ANY, None,
               {"file_name": ANY, "file_sha256": ANY, "dialect": "truce", "rows_read": 1, "inserted": 1, "updated": 0,
                "unchanged": 0, "rejected": 0}),),
    ),
    "init": Unwritten("writes truce.toml and creates the tables"),
    # The connectors need a CRM (a fake server) and a secret in the environment: their trail is
    # checked in tests/test_connector_cli.py (crm_connect, crm_revoke, crm_sync_page).
    "connect": Unwritten("audited as crm_connect / crm_reconnect (tests/test_connector_cli.py)"),
    "connections rejects": READS,
    "connections writes": READS,
    "connections revoke": Unwritten("audited as crm_revoke (tests/test_connector_cli.py)"),
    "sync": Unwritten("each page audited as crm_sync_page (tests/test_connector_cli.py)"),
    # The weekly brief writes files and owes messages; the run itself is the one entry (tests/test_jobs_*.py).
    "jobs run": Command(
        ("jobs", "run", "weekly_brief"), "scheduler",
        (Entry("job_run", "job", ANY, None,
               {"job": "weekly_brief", "slot": ANY, "cause": "manual", "attempts": 1, "status": "ok",
                "counts": {"files_written": 2, "decisions": ANY, "messages_owed": ANY}, "error": None}),),
    ),
    # Without --as (and no $TRUCE_USER) the trail names the CLI itself.
    "lead move": Command(("lead", "move", "cy@acme.example", "mql"), "cli", (_stage_move("cy", "inquiry", "mql"),)),
    "meeting start": Command(
        ("meeting", "start", "--period", "2026-W40", "--attendee", EMAIL["mia"], "--as", EMAIL["ria"]), EMAIL["ria"],
        (MEETING_ATTEND,),
    ),
    "meeting show": READS,
    "meeting decide": Command(
        ("meeting", "decide", "1", "--owner", EMAIL["mia"], "--due", "2999-12-31", "--indicator",
         "feedback.answered_share", "--period", "2026-W40", "--as", EMAIL["ria"]), EMAIL["ria"],
        (Entry("decision_record", "decision", ANY, None, DECIDED),),
    ),
    "decisions done": Command(("decisions", "done", "{decision}", "--note", "Called", "--as", EMAIL["eva"]), EMAIL["eva"],
                              (DECISION_DONE,)),
    "decisions drop": Command(("decisions", "drop", "{decision}", "--note", "Not needed", "--as", EMAIL["ria"]),
                              EMAIL["ria"], (DECISION_DROPPED,)),
    "initiative adopt": Command(
        ("initiative", "adopt", "joint_training", "--owner", EMAIL["mia"], "--start", "2026-12-01", "--indicator",
         "feedback.answered_share", "--as", EMAIL["ria"]), EMAIL["ria"],
        (Entry("initiative_adopt", "initiative", ANY, None, ADOPTED),),
    ),
    "initiatives": READS,
    "lead show": READS,
    "metrics": READS,
    # Delivery bookkeeping only (operations tables, no data, no audit entry); the scheduler records each run.
    "notifications deliver": Command(("notifications", "deliver"), "cli", ()),
    "notifications failed": READS,
    "notifications list": READS,
    "notifications prefs": Command(
        ("notifications", "prefs", EMAIL["eva"], "--set", "mql_pace=inbox"), "cli",
        (Entry("notification_preferences_set", "users", Ref("eva"), {}, {"mql_pace": ["inbox"]}),),
    ),
    "notifications retry": Command(("notifications", "retry", "--all"), "cli", (RETRIED,)),
    "pricing": READS,
    "roi": READS,
    "score explain": READS,
    # What the counts are is checked in test_score_refresh_is_audited below.
    "score refresh": Command(("score", "refresh"), "cli", (Entry("score_refresh", "contacts", None, None, ANY),)),
    "serve": Unwritten("serves the web pages and the API, whose writes are checked above"),
    # Which breaches and handoffs the entries name is checked in test_sla_sweep_is_audited and
    # test_sla_rebuild_is_audited below.
    "sla rebuild": Command(
        ("sla", "rebuild", "--at", SWEPT_AT), "cli",
        (Entry("sla_rebuild", "handoffs", None, None,
               {"as_of": SWEPT_AT, "handoffs_created": 1, "handoff_id_ranges": [[ANY, ANY]],
                **_late_on_both_promises(1), "sla_event_id_ranges": ANY}),),
        prepare=_cy_reached_mql_by_import,
    ),
    "sla sweep": Command(
        ("sla", "sweep", "--at", SWEPT_AT), "cli",
        (Entry("sla_sweep", "sla_events", None, None,
               {"as_of": SWEPT_AT, **_late_on_both_promises(2), "sla_event_id_ranges": ANY,
                "handoff_id_ranges": ANY}),
         # Years past the decision deadline, both leads are taken from their seller and re-routed.
         Entry("sla_escalate", "handoffs", None, None,
               {"as_of": SWEPT_AT, "rescheduled": 0, "leaders_told": 0, "rerouted": 2, "nurtured": 0,
                "told_handoff_id_ranges": [], "rerouted_handoff_id_ranges": ANY, "nurtured_handoff_id_ranges": [],
                "new_handoff_id_ranges": ANY, "sla_event_id_ranges": ANY})),
    ),
    "status": READS,
    "survey import": Command(
        ("survey", "import", "{survey}"),
        "cli",
        (Entry("create", "survey_round", ANY, None, {"name": "2027-Q1"}),
         Entry("import", "survey_responses", ANY, None,
               {"file_name": ANY, "file_sha256": ANY, "rows_read": 1, "inserted": 1})),
    ),
    "survey report": READS,
    "survey statements": Unwritten("prints the statements"),
    "survey take": Command(
        ("survey", "take", "--round", "2027-Q1", "--as", EMAIL["eva"]), EMAIL["eva"], _survey_entries("eva", "cli"),
        input="".join(f"{r}\n" for r in RATINGS),
    ),
    "target backtest": READS,
    "target set": Command(
        ("target", "set", "--metric", "revenue", "--period", "2027-Q1", "--team", "shared", "--amount", "2500000",
         "--as", EMAIL["ria"]),
        EMAIL["ria"],
        (_target_entry(),),
    ),
    # --as names whose token it is; who ran the command is the CLI.
    "token list": READS,
    "token revoke": Command(("token", "revoke", "{eva_token}", "--as", EMAIL["ria"]), EMAIL["ria"], (REVOKED,)),
    "user activate": Command(("user", "activate", OLD, "--as", EMAIL["ria"]), EMAIL["ria"], (ACTIVATED,)),
    "user deactivate": Command(("user", "deactivate", EMAIL["eva"], "--as", EMAIL["ria"]), EMAIL["ria"], (DEACTIVATED,)),
    "user password": Command(
        ("user", "password", EMAIL["eva"], "--password-stdin", "--as", EMAIL["ria"]), EMAIL["ria"],
        (_password_change(0, [Ref("eva_token")]),), input=NEW_PASSWORD + "\n",
    ),
    "user sessions end": Command(
        ("user", "sessions", "end", EMAIL["eva"], "--as", EMAIL["ria"]), EMAIL["ria"], (SESSIONS_ENDED,),
    ),
    "worker": Unwritten("runs the scheduled jobs until stopped; each run is audited as `jobs run`'s is (tests/test_jobs_*.py)"),
    "token create": Command(
        ("token", "create", "--as", EMAIL["eva"], "--name", "hubspot-sync"), "cli",
        (Entry("token_create", "api_token", ANY, None, {"user": EMAIL["eva"], "name": "hubspot-sync"}),),
    ),
    "user add": Command(
        ("user", "add", "nia@yourco.example", "--team", "marketing", "--no-password", "--as", EMAIL["ria"]),
        EMAIL["ria"],
        (Entry("user_add", "user", ANY, None,
               {"email": "nia@yourco.example", "team": "marketing", "access": "member", "password_set": False}),),
    ),
}  # fmt: skip


def _cli_commands(group, prefix: tuple[str, ...] = ()):
    commands = getattr(group, "commands", None)
    if not commands:
        yield " ".join(prefix)
        return
    for name, command in commands.items():
        yield from _cli_commands(command, (*prefix, name))


def test_every_command_of_the_cli_is_named_a_write_or_not():
    from typer.main import get_command

    from truce.cli import app

    commands = set(_cli_commands(get_command(app)))
    assert commands - set(CLI_COMMANDS) == set(), "commands CLI_COMMANDS does not name"
    assert set(CLI_COMMANDS) - commands == set(), "CLI_COMMANDS names commands truce does not have"


@pytest.fixture
def cli(engine, scene, tmp_path, monkeypatch):
    """Runs `truce …` against the scene's store and truce.toml, as nobody in particular ($TRUCE_USER unset)."""
    from truce.cli import app

    monkeypatch.delenv("TRUCE_USER", raising=False)
    monkeypatch.setenv("TRUCE_CONFIG", str(scene.config_file))
    monkeypatch.chdir(tmp_path)
    touches = tmp_path / "touchpoints.csv"
    touches.write_text(
        "external_id,contact_email,channel,touch_type,occurred_at\nT1,ann@acme.example,webinar,webinar,"
        "2026-11-03T10:00:00+00:00\n",
        encoding="utf-8",
    )
    survey = tmp_path / "survey.csv"
    numbers = [f"s{n}" for n in range(1, 21)]
    survey.write_text(
        ",".join(["respondent", "team", "role", "round", *numbers])
        + "\n"
        + ",".join([EMAIL["eva"], "sales", "staff", "2027-Q1", *map(str, RATINGS)])
        + "\n",
        encoding="utf-8",
    )
    scene.files.update(touches=str(touches), survey=str(survey))
    url = engine.url.render_as_string(hide_password=False)

    def run(*args: str, input: str | None = None):
        filled = [a.format(**scene.ids, **scene.files) for a in args]
        return CliRunner().invoke(app, [*filled, "--db", url], input=input)

    return run


@pytest.mark.parametrize("name", sorted(n for n, c in CLI_COMMANDS.items() if isinstance(c, Command)))
def test_a_cli_write_is_audited_in_the_name_of_the_as_user_or_cli(engine, scene, cli, name):
    command = CLI_COMMANDS[name]
    if command.prepare:
        command.prepare(engine, scene)
    kept = _kept(engine)
    result = cli(*command.args, input=command.input)
    assert result.exit_code == 0, result.output
    _check_trail(engine, scene, kept, Write("", "", None, command.entries), command.actor)


# Writes the CLI makes that the trail does not show yet; each names the service that should record
# them. When one is fixed its test passes, and strict xfail turns that into a failure: drop the mark.


def _cli_entries(engine, kept: dict) -> list[tuple]:
    added = _kept(engine)["audit_log"][len(kept["audit_log"]) :]
    return [row for row in added if row[2] == "cli"]  # (id, at, actor, …)


def test_score_refresh_is_audited(engine, scene, cli):
    kept = _kept(engine)
    result = cli("score", "refresh", "--json")
    if result.exit_code != 0 or '"changed": 0' in result.output:
        pytest.fail(f"score refresh changed nothing to audit: {result.output}")
    printed = json.loads(result.stdout)
    entries = _cli_entries(engine, kept)
    assert len(entries) == 1, "one audit entry for the scores the refresh wrote"
    assert entries[0][-1] == printed  # (…, before, after): the counts the command printed
    assert cli("score", "refresh", "--json").exit_code == 0
    assert len(_cli_entries(engine, kept)) == 1  # nothing changed the second time: no entry


# The sweep and the rebuild write many records at once: one entry each names them all, by id.


def _entries(engine, kept: dict, action: str) -> list[dict]:
    """The audit entries written since `kept` for `action`, as dicts."""
    columns = [c.name for c in AuditEntry.__table__.columns]
    added = _kept(engine)["audit_log"][len(kept["audit_log"]) :]
    return [entry for row in added if (entry := dict(zip(columns, row, strict=True)))["action"] == action]


def _ids_in(ranges: list[list[int]]) -> list[int]:
    return [record_id for first, last in ranges for record_id in range(first, last + 1)]


def _new_rows(engine, model, kept_ids: set[int]) -> list:
    with engine.connect() as conn:
        return [row for row in conn.execute(select(model).order_by(model.id)) if row.id not in kept_ids]


def _all_ids(engine, model) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(select(model.id)).scalars())


def test_sla_sweep_is_audited(engine, scene, cli):
    """One entry names every breach the sweep recorded and its handoff; a sweep that records nothing, none.

    That the entry and the breaches commit together, batch by batch, is in tests/test_sla_audit.py.
    """
    kept, events_before = _kept(engine), _all_ids(engine, SlaEvent)
    result = cli("sla", "sweep", "--at", SWEPT_AT, "--json")
    assert result.exit_code == 0, result.output
    new = _new_rows(engine, SlaEvent, events_before)
    # Escalation (years late) then took both leads away: its breaches are in its own entry, sla_escalate.
    assert [e.kind for e in new].count("decision_expired") == 2
    recorded = [e for e in new if e.kind != "decision_expired"]
    assert len(recorded) == 4, "ann's and bob's handoffs each missed the first touch and the decision"
    (entry,) = _entries(engine, kept, "sla_sweep")
    assert entry["actor"] == "cli"
    assert _ids_in(entry["after"]["sla_event_id_ranges"]) == [e.id for e in recorded]
    assert _ids_in(entry["after"]["handoff_id_ranges"]) == sorted({e.handoff_id for e in recorded})
    assert entry["after"]["breaches_by_kind"] == dict(sorted(Counter(e.kind for e in recorded).items()))
    assert json.loads(result.output)["breaches_recorded"] == entry["after"]["breaches_recorded"] == 4
    again = _kept(engine)
    assert cli("sla", "sweep", "--at", SWEPT_AT).exit_code == 0
    assert _kept(engine) == again, "a sweep that recorded nothing wrote to the trail"


def test_sla_rebuild_is_audited(engine, scene, cli):
    """One entry names every handoff and breach the rebuild created; a rebuild that creates nothing, none."""
    _cy_reached_mql_by_import(engine, scene)
    kept, handoffs_before, events_before = _kept(engine), _all_ids(engine, Handoff), _all_ids(engine, SlaEvent)
    result = cli("sla", "rebuild", "--at", SWEPT_AT, "--json")
    assert result.exit_code == 0, result.output
    created = _new_rows(engine, Handoff, handoffs_before)
    recorded = _new_rows(engine, SlaEvent, events_before)
    assert [h.contact_id for h in created] == [scene.ids["cy"]]
    (entry,) = _entries(engine, kept, "sla_rebuild")
    assert entry["actor"] == "cli"
    assert _ids_in(entry["after"]["handoff_id_ranges"]) == [h.id for h in created]
    assert _ids_in(entry["after"]["sla_event_id_ranges"]) == [e.id for e in recorded]
    assert json.loads(result.output) == {"handoffs_created": 1, "breaches_recorded": len(recorded)}
    again = _kept(engine)
    assert cli("sla", "rebuild", "--at", SWEPT_AT).exit_code == 0
    assert _kept(engine) == again, "a rebuild that created nothing wrote to the trail"


# The schema commands drop whole tables, triggers or not. While the trail or the ledger holds
# rows they refuse, unless told loudly (--discard-history) that the history is to be lost.
DROPS_EVERY_TABLE = {
    "db downgrade": ("db", "downgrade", "base", "--yes"),
    "demo --force": ("demo", "--contacts", "100", "--force"),
}


@pytest.mark.parametrize("name", sorted(DROPS_EVERY_TABLE))
def test_no_command_drops_the_ledger_or_the_trail(engine, scene, cli, name):
    from sqlalchemy import inspect

    kept = _kept(engine)
    result = cli(*DROPS_EVERY_TABLE[name])
    assert result.exit_code == 1, result.output
    tables = set(inspect(engine).get_table_names())
    assert {"audit_log", "stage_changes"} <= tables and _kept(engine) == kept
    # None of the scene's history is the demo's, so both commands count all of it.
    entries, moves = len(kept["audit_log"]), len(kept["stage_changes"])
    assert entries > 1 and moves > 1
    said = " ".join(result.output.split())
    assert f"{entries} audit entries" in said and f"{moves} stage-ledger rows" in said, said
    assert "nothing was changed" in said and "--discard-history" in said


@pytest.mark.parametrize("name", sorted(DROPS_EVERY_TABLE))
def test_the_flag_that_drops_the_history_is_documented(name):
    from truce.cli import app

    command = name.split(" --")[0]
    help_text = " ".join(CliRunner().invoke(app, [*command.split(), "--help"]).output.split())
    assert "--discard-history" in help_text
    docs = (Path(__file__).parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")
    section = docs.split(f"### `truce {command}`", 1)[1].split("\n### ", 1)[0]
    assert "--discard-history" in section, f"docs/cli.md does not explain --discard-history for truce {command}"
