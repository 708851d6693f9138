"""The demo company: well-formed records the store accepts, and the conflicts it is meant to show."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import subprocess
import sys
from collections import defaultdict
from decimal import ROUND_HALF_EVEN, Decimal
from itertools import pairwise

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from conftest import writing
from sqlalchemy import insert

from truce import config as truce_config
from truce.demo.generator import TABLES, DemoCompany, generate
from truce.store import models
from truce.store.models import Base

UNTIL = dt.date(2026, 11, 20)
END = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
CONTACT_COUNT = 3_000


@pytest.fixture(scope="module")
def company() -> DemoCompany:
    return generate(contacts=CONTACT_COUNT, seed=7, until=UNTIL)


@pytest.fixture(scope="module")
def tables(company) -> dict[str, pa.Table]:
    return company.tables


def rows(table: pa.Table, *columns: str) -> list[tuple]:
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def digest(company: DemoCompany) -> str:
    sha = hashlib.sha256()
    for name in TABLES:
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, company.tables[name].schema) as writer:
            writer.write_table(company.tables[name])
        sha.update(sink.getvalue().to_pybytes())
    return sha.hexdigest()


@pytest.fixture(scope="module")
def ledger(tables) -> dict[int, list[tuple]]:
    """Contact id → its ledger rows (changed_at, id, from, to, by, reason) in id order."""
    by_contact = defaultdict(list)
    moves = tables["stage_changes"].filter(pc.equal(tables["stage_changes"]["entity_type"], "contact"))
    for row in rows(moves, "entity_id", "changed_at", "id", "from_stage", "to_stage", "changed_by_id", "reason"):
        by_contact[row[0]].append(row[1:])
    return by_contact


# ---- reproducible --------------------------------------------------------------------------

def test_the_same_seed_gives_byte_identical_tables(company):
    again = generate(contacts=CONTACT_COUNT, seed=7, until=UNTIL)
    assert digest(again) == digest(company)


def test_a_fresh_interpreter_with_another_hash_seed_gives_the_same_bytes():
    script = (
        "import datetime as dt, sys; sys.path.insert(0, 'tests');"
        "from test_demo_generator import digest; from truce.demo.generator import generate;"
        "print(digest(generate(contacts=500, seed=3, until=dt.date(2026, 11, 20))))"
    )
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    fresh = subprocess.run([sys.executable, "-c", script], cwd=here, capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"}).stdout.strip()
    assert fresh == digest(generate(contacts=500, seed=3, until=UNTIL))


def test_another_seed_gives_different_data(company):
    other = generate(contacts=CONTACT_COUNT, seed=8, until=UNTIL)
    for name in ("contacts", "stage_changes", "touchpoints", "opportunities"):
        assert not other.tables[name].equals(company.tables[name]), name


# ---- shaped like the store -----------------------------------------------------------------

EXPECTED_TYPE = {
    "Integer": pa.int64(), "BigInteger": pa.int64(), "String": pa.string(), "Text": pa.string(),
    "Boolean": pa.bool_(), "Date": pa.date32(), "UTCDateTime": pa.timestamp("us", tz="UTC"),
    "Money": pa.decimal128(18, 2), "Rate": pa.decimal128(7, 4),
}


def test_every_table_has_exactly_the_store_columns_and_types(tables):
    assert set(tables) == set(TABLES)
    for name, table in tables.items():
        store = Base.metadata.tables[name].columns
        assert table.column_names == [c.name for c in store], name
        for column in store:
            assert table.schema.field(column.name).type == EXPECTED_TYPE[type(column.type).__name__], column
            if not column.nullable:
                assert table.column(column.name).null_count == 0, f"{name}.{column.name}"


def test_ids_run_from_one_to_the_row_count(tables):
    for name, table in tables.items():
        assert table["id"].to_pylist() == list(range(1, table.num_rows + 1)), name


def test_foreign_keys_point_at_existing_rows(tables):
    for name, table in tables.items():
        for column in Base.metadata.tables[name].columns:
            for key in column.foreign_keys:
                target = tables[key.column.table.name]["id"].to_pylist()
                values = set(table[column.name].drop_null().to_pylist())
                assert values <= set(target), f"{name}.{column.name}"
    moves = tables["stage_changes"]
    for entity, target in (("contact", "contacts"), ("opportunity", "opportunities")):
        ids = set(moves.filter(pc.equal(moves["entity_type"], entity))["entity_id"].to_pylist())
        assert ids and ids <= set(tables[target]["id"].to_pylist())


def test_unique_columns_hold_no_duplicates(tables):
    for name, table in tables.items():
        for column in Base.metadata.tables[name].columns:
            if column.unique:
                values = table[column.name].drop_null().to_pylist()
                assert len(values) == len(set(values)), f"{name}.{column.name}"


def test_check_constraints_hold(tables):
    allowed = {
        ("users", "team"): models.TEAMS, ("users", "marketing_focus"): models.MARKETING_FOCUS,
        ("campaigns", "owning_team"): models.TEAMS, ("touchpoints", "kind"): models.TOUCH_KINDS,
        ("opportunities", "status"): models.OPPORTUNITY_STATUSES,
        ("stage_changes", "entity_type"): ("contact", "opportunity"),
        ("feedback_items", "kind"): models.FEEDBACK_KINDS, ("feedback_items", "status"): models.FEEDBACK_STATUSES,
        ("targets", "metric"): models.TARGET_METRICS, ("targets", "team"): models.TEAMS,
    }
    for (name, column), values in allowed.items():
        assert set(tables[name][column].drop_null().to_pylist()) <= set(values), f"{name}.{column}"


def test_the_store_accepts_every_row(sqlite_engine):
    """The migrated SQLite store enforces its own keys, uniqueness and checks on the demo."""
    small = generate(contacts=600, seed=11, until=UNTIL)
    order = ("users", "accounts", "campaigns", "contacts", "opportunities", "touchpoints", "stage_changes",
             "feedback_items", "targets")
    with writing(sqlite_engine) as conn:
        for name in order:
            conn.execute(insert(Base.metadata.tables[name]), small.tables[name].to_pylist())


# ---- a believable company ------------------------------------------------------------------

def test_emails_are_lower_case_and_at_the_account_domain(tables):
    domain = dict(rows(tables["accounts"], "id", "domain"))
    for email, account in rows(tables["contacts"], "email", "account_id"):
        assert email == email.lower().strip()
        assert email.endswith("@" + domain[account])


def test_staff_mix_has_both_teams_and_one_seller_who_left(tables):
    users = tables["users"].to_pylist()
    by_team = defaultdict(list)
    for user in users:
        by_team[user["team"]].append(user)
    assert len(by_team["marketing"]) >= 8 and len(by_team["sales"]) >= 14 and len(by_team["revops"]) >= 2
    assert sum(u["is_leader"] for u in by_team["marketing"]) == 1
    assert sum(u["is_leader"] for u in by_team["sales"]) == 1
    assert {u["marketing_focus"] for u in by_team["marketing"]} == {"upstream", "downstream"}
    assert [u["team"] for u in users if not u["active"]] == ["sales"]


def test_at_least_ten_channels_have_positive_cost(tables):
    campaigns = tables["campaigns"]
    paid = {ch for ch, cost in rows(campaigns, "channel", "actual_cost") if cost > 0}
    assert len(paid) >= 10
    assert set(tables["contacts"]["source_channel"].to_pylist()) <= set(campaigns["channel"].to_pylist())


def test_touchpoints_average_four_to_six_per_contact_and_sales_touches_are_by_sellers(tables):
    touches = tables["touchpoints"]
    assert 4 <= touches.num_rows / tables["contacts"].num_rows <= 6
    team = dict(rows(tables["users"], "id", "team"))
    for kind, user, campaign in rows(touches, "kind", "user_id", "campaign_id"):
        if kind == "sales":
            assert team[user] == "sales"
        else:
            assert user is None and campaign is not None
    assert max(touches["occurred_at"].to_pylist()) < END


# ---- the ledger ----------------------------------------------------------------------------

def test_each_contact_starts_as_an_inquiry_when_it_was_created(tables, ledger):
    for contact, created in rows(tables["contacts"], "id", "created_at"):
        first = ledger[contact][0]
        assert (first[0], first[2], first[3]) == (created, None, "inquiry")


def test_each_contacts_stage_is_its_last_ledger_entry(tables, ledger):
    for contact, stage, updated in rows(tables["contacts"], "id", "stage", "updated_at"):
        assert ledger[contact][-1][3] == stage
        assert ledger[contact][-1][0] == updated


def test_ledger_times_strictly_increase_per_contact_and_stay_before_until(ledger):
    for moves in ledger.values():
        times = [m[0] for m in moves]
        assert all(a < b for a, b in pairwise(times))
        assert [m[1] for m in moves] == sorted(m[1] for m in moves)  # ids follow time
        assert times[-1] < END
        assert all(prev[3] == nxt[2] for prev, nxt in pairwise(moves))  # each move starts where the last ended


def test_teams_before_and_after_follow_the_funnel_config(tables):
    funnel = truce_config.load().funnel
    moves = tables["stage_changes"]
    for entity, before, after, team_before, team_after in rows(
        moves, "entity_type", "from_stage", "to_stage", "team_before", "team_after"
    ):
        if entity == "contact":
            assert team_before == (funnel.team_of(before) if before else None)
            assert team_after == funnel.team_of(after)
        else:
            assert team_after == "sales"


def test_every_rejection_carries_a_reason_code_from_the_config(tables):
    config = truce_config.load()
    exits = {r.code: r.exit for r in config.funnel.rejection_reasons}
    moves = tables["stage_changes"]
    rejected = 0
    for to_stage, reason, by in rows(moves, "to_stage", "reason", "changed_by_id"):
        if to_stage in ("recycled", "disqualified"):
            rejected += 1
            assert reason in exits and exits[reason] == to_stage and by is not None
        else:
            assert reason is None
    assert rejected > 0


def test_sales_rejects_between_20_and_40_percent_of_mqls(tables):
    moves = tables["stage_changes"]
    mqls = rejected = 0
    for before, after in rows(moves, "from_stage", "to_stage"):
        mqls += after == "mql"
        rejected += before == "mql" and after in ("recycled", "disqualified")
    assert 0.20 <= rejected / mqls <= 0.40


def test_a_few_sales_sourced_leads_skip_stages(tables):
    moves = tables["stage_changes"]
    skips = sum(1 for before, after in rows(moves, "from_stage", "to_stage") if (before, after) == ("inquiry", "sql"))
    assert 0.01 <= skips / tables["contacts"].num_rows <= 0.06


def test_the_seller_who_left_owns_no_leads_created_after_leaving(company, tables):
    story = company.story
    inactive = [u for u in tables["users"].to_pylist() if not u["active"]]
    assert [u["id"] for u in inactive] == [story.departed_seller_id]
    assert story.window_start < story.departed_at < story.window_end
    theirs = [created for owner, created in rows(tables["contacts"], "owner_id", "created_at")
              if owner == story.departed_seller_id]
    assert theirs and max(theirs) <= story.departed_at
    left = story.departed_seller_id
    acted = [at for by, at in rows(tables["stage_changes"], "changed_by_id", "changed_at") if by == left]
    assert acted and max(acted) <= story.departed_at
    touched = [at for user, at in rows(tables["touchpoints"], "user_id", "occurred_at") if user == left]
    assert max(touched) <= story.departed_at
    assert story.departed_seller_id not in set(tables["accounts"]["owner_id"].to_pylist())


# ---- deals ---------------------------------------------------------------------------------

def test_amount_is_list_price_less_discount_to_the_cent(tables):
    deals = tables["opportunities"]
    assert deals.num_rows > 50
    for amount, list_amount, rate in rows(deals, "amount", "list_amount", "discount_rate"):
        assert amount == (list_amount * (1 - rate)).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        assert Decimal(0) <= rate <= Decimal("0.45")


def test_deal_status_matches_where_the_contact_ended(tables):
    stage = dict(rows(tables["contacts"], "id", "stage"))
    expected = {"won": ("customer", "Closed Won"), "lost": ("lost", "Closed Lost")}
    for status, contact, deal_stage, reason in rows(
        tables["opportunities"], "status", "primary_contact_id", "stage", "loss_reason"
    ):
        if status == "open":
            assert stage[contact] == "opportunity" and not deal_stage.startswith("Closed")
        else:
            assert (stage[contact], deal_stage) == expected[status]
        assert (reason is not None) == (status == "lost")


def test_heavy_discounters_give_clearly_more_away(company, tables):
    heavy = set(company.story.heavy_discounter_ids)
    given = defaultdict(list)
    for owner, rate in rows(tables["opportunities"], "owner_id", "discount_rate"):
        given[owner in heavy].append(float(rate))
    mean = {is_heavy: sum(rates) / len(rates) for is_heavy, rates in given.items()}
    assert 2 <= len(heavy) <= 3
    assert mean[True] >= mean[False] + 0.10


def test_enterprise_deals_are_much_larger_than_small_business_ones(tables):
    segment = dict(rows(tables["accounts"], "id", "segment"))
    amounts = defaultdict(list)
    for account, amount in rows(tables["opportunities"], "account_id", "list_amount"):
        amounts[segment[account]].append(amount)
    average = {s: sum(a) / len(a) for s, a in amounts.items()}
    assert average["enterprise"] > 5 * average["smb"]


# ---- feedback, targets, progress -----------------------------------------------------------

def test_marketing_answers_some_feedback(tables):
    team = dict(rows(tables["users"], "id", "team"))
    items = tables["feedback_items"].to_pylist()
    assert 100 <= len(items) <= 1_000
    answered = [i for i in items if i["status"] != "new"]
    assert answered and all(team[i["replied_by_id"]] == "marketing" and i["replied_at"] > i["created_at"]
                            for i in answered)
    assert all(team[i["author_id"]] == "sales" for i in items)


def test_targets_cover_every_quarter_and_month_of_the_two_years(tables):
    targets = tables["targets"].to_pylist()
    revenue = [t for t in targets if t["metric"] == "revenue"]
    mqls = [t for t in targets if t["metric"] == "mqls"]
    assert all(t["team"] is None for t in revenue) and all(t["team"] == "marketing" for t in mqls)
    assert len(revenue) == 9 and len(mqls) == 25
    assert all(t["amount"] > 0 and t["period_start"] < t["period_end"] for t in targets)


def test_progress_is_reported_for_every_step():
    calls = []
    generate(contacts=200, seed=1, until=UNTIL, progress=lambda step, done, total: calls.append((step, done, total)))
    assert [done for _, done, _ in calls] == list(range(1, len(calls) + 1))
    assert all(total == len(calls) for _, _, total in calls)


def test_it_refuses_a_company_too_small_to_tell_the_story():
    with pytest.raises(ValueError, match="at least"):
        generate(contacts=3, seed=1, until=UNTIL)
