"""`sla_breach`: the seller and the sales leaders hear of each breach the sweep records."""

from __future__ import annotations

from sqlalchemy import Connection

from truce.services.sla_rules.notices import (
    Notice,
    crowd_key,
    emails_of,
    listed,
    owe_each,
    sales_leaders,
    to_owner_and_leaders,
)

LINK = "/sla"
WORDS = {
    "first_touch_late": "first touch late",
    "decision_late": "decision late",
    "too_few_attempts": "too few attempts",
    "decision_expired": "decision expired",
}


def owe_breaches(conn: Connection, breaches: list[dict]) -> int:
    """Owe the messages for breaches just recorded (dicts with id, contact_id, kind, owner_id, detail)."""
    if not breaches:
        return 0
    leads = _emails(conn, [b["contact_id"] for b in breaches])
    owners = emails_of(conn, [b["owner_id"] for b in breaches])
    items = [{**b, "email": leads.get(b["contact_id"]), "owner": owners.get(b["owner_id"])} for b in breaches]

    def one(item: dict) -> Notice:
        who = item["owner"] or "nobody (unassigned)"
        return Notice(
            f"SLA breach: {WORDS.get(item['kind'], item['kind'])} on {item['email']}",
            f"A breach by sales was recorded on {item['email']}, held by {who}: {item['detail']}.",
            LINK,
            f"sla_breach:event:{item['id']}",
            {"sla_event_id": item["id"], "handoff_id": item["handoff_id"], "kind": item["kind"]},
        )

    def many(found: list[dict]) -> Notice:
        ids = [b["id"] for b in found]
        kinds = sorted({WORDS.get(b["kind"], b["kind"]) for b in found})
        return Notice(
            f"{len(found)} SLA breaches recorded",
            f"{len(found)} breaches by sales were recorded ({', '.join(kinds)}), e.g. on {found[0]['email']}.",
            LINK,
            crowd_key("sla_breach", "events", ids),
            {"sla_events": listed(ids)},
        )

    return owe_each(conn, "sla_breach", to_owner_and_leaders(items, sales_leaders(conn)), one, many)


def _emails(conn: Connection, contact_ids: list[int]) -> dict[int, str]:
    from truce.services.sla_rules.routed import _contact_emails

    return _contact_emails(conn, contact_ids)
