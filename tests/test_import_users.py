"""Importing the people of both teams, so owners in other exports find their user."""

from __future__ import annotations

import pytest
from conftest import writing
from sqlalchemy import select

from truce.imports.service import ImportFailed, import_file
from truce.store.models import Contact, User


def test_it_loads_users_and_lets_contact_owners_find_them(engine, default_config, tmp_path):
    users = tmp_path / "users.csv"
    users.write_text(
        "email,first_name,last_name,team,marketing_focus,region,segment,active\n"
        "Eva@YourCo.example,Eva,Stone,sales,,EMEA,enterprise,yes\n"
        "mia@yourco.example,Mia,Lund,marketing,downstream,,,true\n"
        "old@yourco.example,Old,Timer,sales,,,,no\n"
    )
    report = import_file(engine, "users", users, default_config)
    assert (report.inserted, report.updated) == (3, 0)
    contacts = tmp_path / "contacts.csv"
    contacts.write_text("email,owner_email\nann@acme.example,Eva Stone\n")  # owners may be named by name
    import_file(engine, "contacts", contacts, default_config)
    with engine.connect() as conn:
        people = conn.execute(
            select(User.email, User.name, User.team, User.marketing_focus, User.active).order_by(User.id)
        ).all()
        owner = conn.execute(select(User.email).join(Contact, Contact.owner_id == User.id)).scalar_one()
    assert people == [
        ("eva@yourco.example", "Eva Stone", "sales", None, True),
        ("mia@yourco.example", "Mia Lund", "marketing", "downstream", True),
        ("old@yourco.example", "Old Timer", "sales", None, False),
    ]
    assert owner == "eva@yourco.example"
    assert import_file(engine, "users", users, default_config).unchanged == 3


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("x@yourco.example,X,engineering,", "team", "unknown team 'engineering'; use one of marketing, sales, revops"),
        (
            "x@yourco.example,X,sales,upstream",
            "marketing_focus",
            "only marketers are upstream or downstream; this user is on the sales team",
        ),
        ("x@yourco.example,X,,", "team", "required value is missing"),
    ],
)
def test_it_refuses_a_user_without_a_valid_team(sqlite_engine, default_config, tmp_path, row, column, message):
    users = tmp_path / "users.csv"
    users.write_text(f"email,name,team,marketing_focus\n{row}\n")
    with pytest.raises(ImportFailed) as failed:
        import_file(sqlite_engine, "users", users, default_config)
    (error,) = failed.value.report.errors
    assert (error.line, error.column, error.message) == (2, column, message)


def test_imported_touches_rescore_their_contacts_and_can_make_an_mql(engine, default_config, tmp_path):
    """Default scoring: a mid-market Head of Procurement (12 + 15) with a demo request (40) reaches 60."""
    import datetime as dt

    from truce.store.models import Account, Handoff

    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with writing(engine) as conn:
        account = conn.execute(
            Account.__table__.insert().returning(Account.id),
            {"name": "Acme", "segment": "mid_market", "is_key_account": False, "created_at": now, "updated_at": now},
        ).scalar_one()
        for email, title in (("ann@acme.example", "Head of Procurement"), ("bob@acme.example", "Buyer")):
            conn.execute(
                Contact.__table__.insert(),
                {
                    "email": email,
                    "title": title,
                    "stage": "inquiry",
                    "account_id": account,
                    "created_at": now,
                    "updated_at": now,
                },
            )
    when = dt.datetime.now(dt.UTC).isoformat()  # fresh touches: no decay to speak of
    touches = tmp_path / "touches.csv"
    touches.write_text(
        "external_id,contact_email,channel,touch_type,occurred_at\n"
        f"t1,ann@acme.example,website,demo_request,{when}\n"
        f"t2,bob@acme.example,website,demo_request,{when}\n"
    )
    report = import_file(engine, "touchpoints", touches, default_config)
    assert (report.inserted, report.contacts_rescored, report.became_mql) == (2, 2, 1)
    with engine.connect() as conn:
        stages = dict(conn.execute(select(Contact.email, Contact.stage)).all())
        scores = dict(conn.execute(select(Contact.email, Contact.score)).all())
        queued = conn.execute(select(Handoff.contact_id)).scalars().all()
    assert stages == {"ann@acme.example": "mql", "bob@acme.example": "inquiry"}
    assert scores == {"ann@acme.example": 67, "bob@acme.example": 52}  # 12+15+40 and 12+40
    assert len(queued) == 1
