"""Links to a record's own page, for every template: `{{ lead | contact_link }}`, `{{ deal | deal_link }}`.

A contact is shown by name (else email) and opens /leads/{id}; a row that knows only the email
opens /leads/find?email=…, which redirects to it. A deal opens /deals/{id}, which shows it on its
primary contact's lead page. Values are escaped: a name is data, never markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from markupsafe import Markup, escape


def contact_href(value) -> str | None:
    if isinstance(value, Mapping):
        if value.get("contact_id") is not None:
            return f"/leads/{int(value['contact_id'])}"
        value = value.get("email")
    if isinstance(value, str) and value:
        return f"/leads/find?email={quote(value, safe='@')}"
    return None


def contact_link(value, label: str | None = None) -> Markup:
    """`value`: a mapping with contact_id (and name or email), or an email."""
    if isinstance(value, Mapping):
        shown = label or value.get("name") or value.get("email") or "(no name)"
    else:
        shown = label or value or "–"
    href = contact_href(value)
    if href is None:
        return escape(shown)
    return Markup('<a class="contact-link" href="{}">{}</a>').format(href, shown)


def deal_link(value, label: str | None = None) -> Markup:
    """`value`: a mapping with the deal's id (and name), or an id."""
    deal_id = value.get("id") if isinstance(value, Mapping) else value
    shown = label or (value.get("name") if isinstance(value, Mapping) else None) or f"deal {deal_id}"
    if deal_id is None:
        return escape(shown)
    return Markup('<a class="deal-link" href="/deals/{}">{}</a>').format(int(deal_id), shown)


FILTERS = {"contact_link": contact_link, "deal_link": deal_link}
