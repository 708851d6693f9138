"""The handoff: routing to active sellers, accept and reject by sales only, and both SLA clocks."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from conftest import writing
from sqlalchemy import func, insert, select

from truce import config as truce_config
from truce.domain.lifecycle import IllegalMove
from truce.services import handoff, sla
from truce.services.lifecycle import NotFound, move_contact
from truce.store.models import Account, Contact, Handoff, SlaEvent, StageChange, Touchpoint, User

BERLIN = ZoneInfo("Europe/Berlin")
CONFIG = truce_config.parse(
    truce_config.default_text().replace('timezone = "UTC"', 'timezone = "Europe/Berlin"'), "truce.toml"
)
MONDAY_9 = dt.datetime(2026, 11, 16, 9, 0, tzinfo=BERLIN)


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 11, day, hour, minute, tzinfo=BERLIN)


@pytest.fixture
def company(engine):
    """Two active sellers, one who left, one marketer; an EMEA enterprise account with three leads."""
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    people = [
        ("eva@seller.example", "sales", "EMEA", "enterprise", True),
        ("nick@seller.example", "sales", "NA", "smb", True),
        ("gone@seller.example", "sales", "EMEA", "enterprise", False),
        ("mia@marketing.example", "marketing", None, None, True),
    ]
    ids = {}
    with writing(engine) as conn:
        for email, team, region, segment, active in people:
            ids[email] = conn.execute(
                insert(User).returning(User.id),
                {
                    "email": email,
                    "name": email.split("@")[0],
                    "team": team,
                    "region": region,
                    "segment": segment,
                    "active": active,
                    "is_leader": False,
                    "created_at": now,
                },
            ).scalar_one()
        account = conn.execute(
            insert(Account).returning(Account.id),
            {
                "name": "Acme",
                "region": "EMEA",
                "segment": "enterprise",
                "is_key_account": False,
                "created_at": now,
                "updated_at": now,
            },
        ).scalar_one()
        for name in ("ann", "bob", "cat"):
            ids[name] = conn.execute(
                insert(Contact).returning(Contact.id),
                {
                    "email": f"{name}@acme.example",
                    "stage": "inquiry",
                    "account_id": account,
                    "created_at": now,
                    "updated_at": now,
                },
            ).scalar_one()
    return ids


def mql(engine, contact_id, when=MONDAY_9):
    with writing(engine) as conn:
        move_contact(conn, CONFIG, contact_id, "mql", at=when, origin="rule", reason="score")


def touch(engine, contact_id, when, user_id, kind="sales"):
    with writing(engine) as conn:
        conn.execute(
            insert(Touchpoint),
            {
                "contact_id": contact_id,
                "channel": "sales_call",
                "kind": kind,
                "touch_type": "call",
                "occurred_at": when,
                "user_id": user_id,
            },
        )


def handoffs(engine):
    with engine.connect() as conn:
        return conn.execute(select(Handoff).order_by(Handoff.id)).mappings().all()


def events(engine):
    with engine.connect() as conn:
        return conn.execute(select(SlaEvent.kind, SlaEvent.contact_id, SlaEvent.user_id).order_by(SlaEvent.id)).all()


def test_an_mql_goes_to_an_active_seller_in_its_territory_with_both_deadlines(engine, company):
    mql(engine, company["ann"])
    (opened,) = handoffs(engine)
    assert opened["owner_id"] == company["eva@seller.example"]  # never gone@, who is inactive
    assert opened["routing_rule"] == "territory EMEA/enterprise, round robin"
    # Monday 09:00 + 4 business hours = 13:00; + 24 business hours = three 8-hour days = Wednesday 17:00.
    assert opened["first_touch_due_at"] == at(16, 13)
    assert opened["decision_due_at"] == at(18, 17)
    assert opened["sla_due_at"] == at(16, 13)


def test_inactive_sellers_never_receive_a_lead(engine, company):
    for name in ("ann", "bob", "cat"):
        mql(engine, company[name])
    owners = {h["owner_id"] for h in handoffs(engine)}
    assert owners == {company["eva@seller.example"]}


def test_a_seller_accepts_and_the_lead_moves_on_with_the_decision_on_record(engine, company):
    mql(engine, company["ann"])
    decided = handoff.accept(engine, CONFIG, "Ann@Acme.example", "eva@seller.example", at=at(16, 11))
    assert (decided.stage, decided.status, decided.late) == ("sal", "accepted", False)
    (closed,) = handoffs(engine)
    assert (closed["status"], closed["decided_by_id"], closed["decided_at"]) == (
        "accepted",
        company["eva@seller.example"],
        at(16, 11),
    )
    with engine.connect() as conn:
        moves = conn.execute(select(StageChange.from_stage, StageChange.to_stage).order_by(StageChange.id)).all()
    assert moves == [("inquiry", "mql"), ("mql", "sal")]


def test_a_rejection_needs_a_known_reason_and_sends_the_lead_back_to_marketing(engine, company):
    mql(engine, company["ann"])
    with pytest.raises(handoff.HandoffRefused, match="a rejection needs a reason; choose one of: not_icp, no_budget"):
        handoff.reject(engine, CONFIG, "ann@acme.example", "eva@seller.example", None)
    with pytest.raises(handoff.HandoffRefused, match="unknown reason 'meh'"):
        handoff.reject(engine, CONFIG, "ann@acme.example", "eva@seller.example", "meh")
    decided = handoff.reject(
        engine, CONFIG, "ann@acme.example", "eva@seller.example", "no_budget", note="next year", at=at(16, 10)
    )
    assert (decided.stage, decided.status) == ("recycled", "rejected")
    (closed,) = handoffs(engine)
    assert (closed["rejection_reason"], closed["note"]) == ("no_budget", "next year")
    with engine.connect() as conn:
        last = conn.execute(select(StageChange).order_by(StageChange.id.desc())).mappings().first()
    assert (last["to_stage"], last["reason"], last["team_after"]) == ("recycled", "no_budget", "marketing")


@pytest.mark.parametrize(
    ("actor", "message"),
    [
        (
            "mia@marketing.example",
            "only sales users may accept or reject handoffs; mia@marketing.example is on the marketing team",
        ),
        ("gone@seller.example", "gone@seller.example is not an active user"),
        (None, "say who decides"),
    ],
)
def test_only_active_sales_users_decide_and_nothing_is_written_otherwise(engine, company, actor, message):
    mql(engine, company["ann"])
    with pytest.raises(handoff.HandoffRefused, match=message):
        handoff.accept(engine, CONFIG, "ann@acme.example", actor)
    assert handoffs(engine)[0]["status"] == "open"


def test_unknown_people_and_leads_not_in_the_queue_are_refused(engine, company):
    with pytest.raises(handoff.HandoffRefused, match="is at stage 'inquiry', not waiting in the handoff queue"):
        handoff.accept(engine, CONFIG, "ann@acme.example", "eva@seller.example")
    with pytest.raises(NotFound, match="no contact with email 'who@x.example'"):
        handoff.accept(engine, CONFIG, "who@x.example", "eva@seller.example")
    with pytest.raises(NotFound, match="no user with email 'nobody@x.example'"):
        handoff.accept(engine, CONFIG, "ann@acme.example", "nobody@x.example")


def test_an_illegal_move_is_refused_and_writes_nothing(engine, company):
    with pytest.raises(IllegalMove, match="cannot move from 'inquiry' to 'lost'"):
        with writing(engine) as conn:
            move_contact(conn, CONFIG, company["ann"], "lost", at=MONDAY_9)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(StageChange)).scalar_one() == 0


def test_the_sweep_records_a_missed_first_touch_and_a_missed_decision_once(engine, company):
    mql(engine, company["ann"])
    assert sla.sweep(engine, CONFIG, now=at(16, 12, 59)) == []
    first = sla.sweep(engine, CONFIG, now=at(16, 13, 1))
    assert [b["kind"] for b in first] == ["first_touch_late"]
    assert sla.sweep(engine, CONFIG, now=at(16, 14)) == []
    later = sla.sweep(engine, CONFIG, now=at(19, 9, 30))
    assert [b["kind"] for b in later] == ["decision_late"]
    assert sla.sweep(engine, CONFIG, now=at(25, 9)) == []
    assert events(engine) == [
        ("first_touch_late", company["ann"], company["eva@seller.example"]),
        ("decision_late", company["ann"], company["eva@seller.example"]),
    ]
    assert handoffs(engine)[0]["sla_due_at"] is None


def test_a_touch_in_time_keeps_the_first_touch_promise(engine, company):
    mql(engine, company["ann"])
    touch(engine, company["ann"], at(16, 12, 30), company["eva@seller.example"])
    touch(engine, company["bob"], at(16, 10), company["eva@seller.example"])  # another lead's touch does not count
    assert sla.sweep(engine, CONFIG, now=at(16, 13, 1)) == []
    assert handoffs(engine)[0]["first_touch_at"] == at(16, 12, 30)


def test_a_late_touch_is_a_breach_that_says_how_late(engine, company):
    mql(engine, company["ann"], when=at(20, 16))  # Friday 16:00: due Monday 12:00
    touch(engine, company["ann"], at(23, 14), company["eva@seller.example"])
    (breach,) = sla.sweep(engine, CONFIG, now=at(23, 15))
    assert breach["kind"] == "first_touch_late"
    assert breach["detail"].endswith("2.0 business hours late")


def test_a_late_decision_is_recorded_when_it_is_made(engine, company):
    mql(engine, company["ann"])
    decided = handoff.accept(engine, CONFIG, "ann@acme.example", "eva@seller.example", at=at(19, 11))
    assert decided.late
    assert ("decision_late", company["ann"], company["eva@seller.example"]) in events(engine)


def test_rejecting_for_no_response_after_too_few_attempts_is_a_breach(engine, company):
    mql(engine, company["ann"])
    for hour in (10, 11):
        touch(engine, company["ann"], at(16, hour), company["eva@seller.example"])
    decided = handoff.reject(engine, CONFIG, "ann@acme.example", "eva@seller.example", "no_response", at=at(17, 10))
    assert decided.warnings == (
        "SLA breach recorded: rejected for no response after 2 of 6 attempts (the SLA asks for 6 within 10 days)",
    )
    assert ("too_few_attempts", company["ann"], company["eva@seller.example"]) in events(engine)


def test_the_queue_shows_business_hours_left_on_each_clock(engine, company):
    mql(engine, company["ann"])
    (waiting,) = handoff.queue(engine, CONFIG, now=at(16, 11))
    assert waiting["email"] == "ann@acme.example"
    assert waiting["owner"] == "eva@seller.example"
    assert (waiting["hours_to_first_touch"], waiting["hours_to_decision"]) == (2.0, 22.0)
    (overdue,) = handoff.queue(engine, CONFIG, now=at(16, 15))
    assert overdue["hours_to_first_touch"] == -2.0


def test_a_lead_touched_in_time_has_no_first_touch_clock_left_and_is_not_past_it(engine, company):
    from truce.services import desk

    mql(engine, company["ann"])
    desk.log_touch(engine, CONFIG, "ann@acme.example", "call", "eva@seller.example", at=at(16, 10))
    (waiting,) = handoff.queue(engine, CONFIG, now=at(16, 15))  # the 4-hour first-touch clock ran out at 13:00
    assert (waiting["hours_to_first_touch"], waiting["hours_to_decision"]) == (None, 18.0)
    assert not handoff.past_first_touch(waiting) and not handoff.past_a_deadline(waiting)


def test_two_sweeps_at_once_record_each_breach_exactly_once(engine, company):
    for name in ("ann", "bob", "cat"):
        mql(engine, company[name])
    results, errors = [], []

    def run():
        try:
            results.append(sla.sweep(engine, CONFIG, now=at(20, 12)))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    recorded = sorted((b["contact_id"], b["kind"]) for batch in results for b in batch)
    expected = sorted((company[n], k) for n in ("ann", "bob", "cat") for k in ("first_touch_late", "decision_late"))
    assert recorded == expected
    assert sorted((c, k) for k, c, _ in events(engine)) == expected


def test_the_sla_report_counts_kept_and_broken_promises(engine, company):
    from truce.services.sla_report import report

    mql(engine, company["ann"])  # touched at 10:00 and accepted at 11:00: both promises kept
    touch(engine, company["ann"], at(16, 10), company["eva@seller.example"])
    handoff.accept(engine, CONFIG, "ann@acme.example", "eva@seller.example", at=at(16, 11))
    mql(engine, company["bob"])  # never touched, never decided: both broken
    sla.sweep(engine, CONFIG, now=at(20, 12))
    data = report(engine, CONFIG, now=at(20, 12))
    sales = data["sales"]
    assert sales["first_touch"] == {"due": 2, "met": 1, "breached": 1, "compliance": 0.5}
    assert sales["decision"] == {"due": 2, "met": 1, "breached": 1, "compliance": 0.5}
    (month,) = data["marketing"]["by_month"]
    assert (month["month"], month["mqls"], month["accepted"], month["rejected"], month["acceptance_rate"]) == (
        "2026-11",
        2,
        1,
        0,
        1.0,
    )
    assert month["complete"] is False
    assert [w["email"] for w in data["queue"]] == ["bob@acme.example"]


def test_custody_names_who_held_a_cold_lead_and_for_how_long(engine, company):
    from truce.services.custody import cold_leads

    mql(engine, company["ann"])  # Monday 16 Nov 09:00 Berlin, routed to eva
    touch(engine, company["ann"], at(17, 10), company["eva@seller.example"])  # last activity
    data = cold_leads(engine, CONFIG, now=at(30, 12))  # 13 days later: not yet cold
    assert "ann@acme.example" not in {lead["email"] for lead in data["leads"]}
    sla.sweep(engine, CONFIG, now=dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
    data = cold_leads(engine, CONFIG, now=dt.datetime(2026, 12, 2, tzinfo=dt.UTC))
    (ann,) = [lead for lead in data["leads"] if lead["email"] == "ann@acme.example"]
    # Last activity Tue 17 Nov 10:00 Berlin (09:00 UTC) + 14 days = 1 Dec 09:00 UTC.
    assert ann["went_cold_at"] == "2026-12-01T09:00:00+00:00"
    assert (ann["stage"], ann["team"], ann["person"]) == ("mql", "sales", "eva@seller.example")
    # Entered mql Mon 16 Nov 08:00 UTC; cold 1 Dec 09:00 UTC: 15 days and 1 hour.
    assert ann["held_days"] == round(15 + 1 / 24, 2)
    assert ann["sla_broken"] == ["decision_late", "first_touch_late"]  # touched a day late, never decided
    # bob and cat never moved or were touched: inquiries held by marketing since creation (1 Nov).
    bob = next(lead for lead in data["leads"] if lead["email"] == "bob@acme.example")
    assert (bob["team"], bob["person"], bob["went_cold_at"]) == ("marketing", None, "2026-11-15T00:00:00+00:00")


def test_rebuilding_history_in_bulk_records_what_a_later_sweep_would(tmp_path, sqlite_template):
    """The demo history judged two ways: in bulk as of the end, or opened at the start and swept at the end."""
    import shutil

    from truce.demo.generator import generate
    from truce.services import handoff_history
    from truce.services.demo import LOAD_ORDER
    from truce.store import bulk, db

    company = generate(contacts=800, seed=21).tables
    start, end = dt.datetime(2024, 11, 1, tzinfo=dt.UTC), dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
    results = []
    for name, judge_at in (("bulk", end), ("swept", start)):
        shutil.copy(sqlite_template, tmp_path / f"{name}.db")
        engine = db.connect(f"sqlite:///{tmp_path / name}.db")
        with writing(engine) as conn:
            for table in LOAD_ORDER:
                bulk.load(conn, table, company[table])
        handoff_history.rebuild(engine, CONFIG, now=judge_at)
        sla.sweep(engine, CONFIG, now=end)
        with engine.connect() as conn:
            results.append(sorted(conn.execute(select(SlaEvent.handoff_id, SlaEvent.kind, SlaEvent.due_at)).all()))
        engine.dispose()
    in_bulk, swept = results
    assert len(in_bulk) > 50
    assert in_bulk == swept
