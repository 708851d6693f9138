"""Funnel leakage names why lost deals were lost: a contact's move into `lost` carries no reason
of its own, so it reads the loss_reason of the deal that closed lost that day."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import insert, text

from tests.conftest import writing
from truce.services import demo
from truce.services.funnel import funnel_report
from truce.store.models import Contact, Opportunity, StageChange


def _lost_by_reason(report: dict) -> dict[str, int]:
    found: dict[str, int] = {}
    for move in report["leakage"]["moves"]:
        if move["to_stage"] == "lost":
            found[move["reason"] or "(none)"] = found.get(move["reason"] or "(none)", 0) + move["moves"]
    return found


def test_it_counts_lost_deals_by_their_loss_reason_as_sql_does(engine, default_config):
    demo.build(engine, contacts=400, seed=11)
    with engine.connect() as conn:
        counted = dict(
            conn.execute(
                text("SELECT loss_reason, count(*) FROM opportunities WHERE status = 'lost' GROUP BY loss_reason")
            ).all()
        )
    assert counted and None not in counted  # the demo gives every lost deal a reason
    report = funnel_report(engine, default_config)
    assert _lost_by_reason(report) == counted
    opportunity = next(s for s in report["leakage"]["stages"] if s["from_stage"] == "opportunity")
    assert opportunity["without_reason"] == 0


def _move(conn, contact_id, src, dst, at, reason=None):
    conn.execute(
        insert(StageChange).values(
            entity_type="contact",
            entity_id=contact_id,
            from_stage=src,
            to_stage=dst,
            changed_at=at,
            reason=reason,
            origin="import",
            recorded_at=at,
        )
    )


def test_it_keeps_a_moves_own_reason_and_leaves_one_without_a_deal_without_reason(engine, default_config):
    day = dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)
    with writing(engine) as conn:
        people = [
            conn.execute(
                insert(Contact)
                .values(email=f"p{i}@x.example", stage="lost", created_at=day, updated_at=day)
                .returning(Contact.id)
            ).scalar_one()
            for i in range(3)
        ]
        for person in people:
            _move(conn, person, None, "opportunity", day - dt.timedelta(days=30))
        # 1: lost with a deal lost that day (reason "price"); 2: the move names its own reason,
        # which wins over the deal's; 3: no deal lost that day (the deal closed a day later).
        _move(conn, people[0], "opportunity", "lost", day)
        _move(conn, people[1], "opportunity", "lost", day, reason="competitor")
        _move(conn, people[2], "opportunity", "lost", day)
        closed = (day.date(), day.date(), day.date() + dt.timedelta(days=1))
        for person, close_date in zip(people, closed, strict=True):
            conn.execute(
                insert(Opportunity).values(
                    primary_contact_id=person,
                    amount=1000,
                    stage="lost",
                    status="lost",
                    created_at=day,
                    close_date=close_date,
                    loss_reason="price",
                    updated_at=day,
                )
            )
    assert _lost_by_reason(funnel_report(engine, default_config)) == {"price": 1, "competitor": 1, "(none)": 1}


def test_a_parquet_folder_reads_the_loss_reasons_of_its_deals_and_runs_without_deals(engine, default_config, tmp_path):
    from truce.analytics import sources
    from truce.services.export import export_table
    from truce.services.funnel import report

    demo.build(engine, contacts=400, seed=11, until=dt.date(2026, 11, 20))
    with engine.connect() as conn:
        counted = dict(
            conn.execute(
                text("SELECT loss_reason, count(*) FROM opportunities WHERE status = 'lost' GROUP BY loss_reason")
            ).all()
        )
    for table in ("stage_changes", "contacts", "accounts", "opportunities"):
        export_table(engine, table, tmp_path / f"{table}.parquet", "parquet")
    with sources.from_parquet(tmp_path) as tables:
        with_deals = report(tables, default_config.funnel)
    assert _lost_by_reason(with_deals) == counted  # the same count as SQL's, from the files
    (tmp_path / "opportunities.parquet").unlink()
    with sources.from_parquet(tmp_path) as tables:
        without = report(tables, default_config.funnel)
    # Without deals the moves into lost keep the ledger's own reason: none, in the demo.
    assert _lost_by_reason(without) == {"(none)": sum(counted.values())}
