"""Records still present: contacts, accounts and deals the CRM has not deleted or merged away.

A record removed in the CRM keeps its row, its stage ledger, its touches and its audit entries
(truce.services.connectors.removals), but it no longer counts anywhere a report counts. Every
reader of those tables for a report asks for `present(Model)` — the analytics sources once for
all reports (truce.analytics.sources, .attribution_sources), the services that list or sum
records themselves (the handoff queue, cold leads, pricing, metrics, credit, the brief) in their
one query — so the rule is written in one place.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement

REMOVABLE = ("contacts", "accounts", "opportunities")


def present(model) -> ColumnElement[bool]:
    """Not deleted or merged away in the CRM (a SQLAlchemy model or table with `deleted_at`)."""
    columns = getattr(model, "c", None)
    return (columns.deleted_at if columns is not None else model.deleted_at).is_(None)


def present_rows(table):
    """The same rule for an Ibis table of the store (for tables read by the analytics)."""
    return table.filter(table.deleted_at.isnull()) if "deleted_at" in table.columns else table
