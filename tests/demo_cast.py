"""TEMPORARY — delete at integration, when `truce demo` builds its fixed cast.

The README and the --help examples name the demo's fixed cast (eva.lind@, mia.ross@ and
owen.price@truce-demo.example; ann.fischer@ and bob.novak@acme.example; the account acme.example).
Until the demo builds it, each name the demo lacks is played by someone of the same part, picked
by a query; a name the demo has is kept, so this does nothing once the cast is there.
"""

from __future__ import annotations

import re
from pathlib import Path


def cast_in_todays_demo(database: Path) -> dict[str, str]:
    import sqlite3

    with sqlite3.connect(database) as conn:

        def one(sql: str, *args) -> str | None:
            row = conn.execute(sql, args).fetchone()
            return row[0] if row else None

        def has(sql: str, value: str) -> bool:
            return one(sql, value) is not None

        stand_ins: dict[str, str] = {}
        user = "SELECT email FROM users WHERE email = ?"
        if not has(user, "eva.lind@truce-demo.example"):
            stand_ins["eva.lind@truce-demo.example"] = one(
                "SELECT u.email FROM users u JOIN handoffs h ON h.owner_id = u.id AND h.status = 'open' "
                "WHERE u.team = 'sales' AND NOT u.is_leader AND u.active GROUP BY u.email ORDER BY count(*) DESC"
            )
        eva = stand_ins.get("eva.lind@truce-demo.example", "eva.lind@truce-demo.example")
        contact = "SELECT email FROM contacts WHERE email = ?"
        waiting = conn.execute(
            "SELECT c.email FROM handoffs h JOIN contacts c ON c.id = h.contact_id JOIN users u ON u.id = h.owner_id "
            "WHERE h.status = 'open' AND u.email = ? ORDER BY h.mql_at DESC LIMIT 2",
            (eva,),
        ).fetchall()
        for name, row in zip(("ann.fischer@acme.example", "bob.novak@acme.example"), waiting, strict=False):
            if not has(contact, name):
                stand_ins[name] = row[0]
        if not has("SELECT domain FROM accounts WHERE domain = ?", "acme.example"):
            stand_ins["acme.example"] = one(
                "SELECT a.domain FROM accounts a LEFT JOIN users u ON u.id = a.owner_id "
                "WHERE a.domain IS NOT NULL ORDER BY (u.email = ?) DESC, a.is_key_account DESC, a.id",
                eva,
            )
        if not has(user, "mia.ross@truce-demo.example"):
            stand_ins["mia.ross@truce-demo.example"] = one(
                "SELECT email FROM users WHERE team = 'marketing' AND marketing_focus = 'downstream' "
                "AND NOT is_leader AND active ORDER BY id"
            )
        if not has(user, "owen.price@truce-demo.example"):
            stand_ins["owen.price@truce-demo.example"] = one(
                "SELECT email FROM users WHERE team = 'revops' AND active ORDER BY id"
            )
    assert all(stand_ins.values()), f"today's demo has nobody to play {stand_ins}"
    return stand_ins


def recast(text: str, stand_ins: dict[str, str]) -> str:
    for name, stand_in in sorted(stand_ins.items(), key=lambda item: -len(item[0])):
        text = re.sub(rf"(?<![\w.@-]){re.escape(name)}(?![\w-])", stand_in, text)
    return text


