"""`lead_routed`: a seller is told when a lead lands in their queue (opened, re-routed or assigned)."""

from __future__ import annotations

from sqlalchemy import Connection, select

from truce.services.sla_rules.notices import Notice, crowd_key, listed, owe_each
from truce.store.models import Contact

LINK = "/handoffs"


def owe_routed(conn: Connection, routed: list[dict], why: str = "routed") -> int:
    """Tell each owner about the handoffs routed to them; `routed` rows have id, contact_id, owner_id.

    `why` is "routed", "re-routed" or "assigned"; the key names the handoff and its owner, so
    each owner hears of a handoff once, however often the sweep or an assignment runs.
    """
    routed = [r for r in routed if r["owner_id"] is not None]
    if not routed:
        return 0
    emails = _contact_emails(conn, [r["contact_id"] for r in routed])
    by_owner: dict[int | None, list[dict]] = {}
    for row in routed:
        by_owner.setdefault(row["owner_id"], []).append({**row, "email": emails.get(row["contact_id"])})

    def one(item: dict) -> Notice:
        return Notice(
            f"A lead was {why} to you: {item['email']}",
            f"{item['email']} is waiting in your handoff queue ({item.get('routing_rule') or why}). "
            "Touch it and accept or reject it before its deadlines.",
            f"{LINK}#handoff-{item['id']}",
            f"lead_routed:handoff:{item['id']}:owner:{item['owner_id']}",
            {"handoff_id": item["id"], "contact_id": item["contact_id"], "why": why},
        )

    def many(items: list[dict]) -> Notice:
        ids = [i["id"] for i in items]
        return Notice(
            f"{len(items)} leads were {why} to you",
            f"{len(items)} leads are waiting in your handoff queue, e.g. {items[0]['email']}. "
            "Touch each and accept or reject it before its deadlines.",
            LINK,
            crowd_key("lead_routed", f"handoffs:owner:{items[0]['owner_id']}", ids),
            {"handoffs": listed(ids), "why": why},
        )

    return owe_each(conn, "lead_routed", by_owner, one, many)


def _contact_emails(conn: Connection, contact_ids: list[int]) -> dict[int, str]:
    wanted = sorted(set(contact_ids))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 900):
        chunk = wanted[start : start + 900]
        found.update(conn.execute(select(Contact.id, Contact.email).where(Contact.id.in_(chunk))).all())
    return found
