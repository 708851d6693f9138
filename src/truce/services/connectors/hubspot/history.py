"""A contact's lifecycle-stage history as the "Became a … Date" columns HubSpot's exports carry.

HubSpot keeps every value `lifecyclestage` has had (`propertiesWithHistory`). The contacts writer
already turns "Became a <stage> Date" columns into dated ledger moves through the funnel's rules,
so the history goes the same way a file would: a move the funnel forbids (HubSpot's stage was
cleared and set back, a recycled lead) is refused as that contact's reject, with the reason.
"""

from __future__ import annotations


def became_columns(history: list[dict]) -> dict[str, str]:
    """{"Became a <value> Date": timestamp} from `propertiesWithHistory.lifecyclestage`, the earliest
    time per value (a stage reached twice entered the funnel the first time)."""
    first: dict[str, str] = {}
    for entry in sorted(history, key=lambda e: e.get("timestamp") or ""):
        value, when = (entry.get("value") or "").strip(), entry.get("timestamp")
        if value and when and value not in first:
            first[value] = when
    return {f"Became a {value} Date": when for value, when in first.items()}


def of_records(body: dict) -> dict[str, dict[str, str]]:
    """Batch read answer → {contact id: its Became-a columns}."""
    return {
        str(record["id"]): became_columns((record.get("propertiesWithHistory") or {}).get("lifecyclestage") or [])
        for record in body.get("results") or []
    }
