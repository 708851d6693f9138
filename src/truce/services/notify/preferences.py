"""Which channels each person gets each kind of event through (truce notifications prefs, /notifications).

No row means the company's default ([notify] default_channels; else inbox and e-mail). Choosing no
channel is allowed: the person is then not told of that kind at all. Every change is audited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from truce.config import NOTIFY_CHANNELS, TruceConfig
from truce.services.lifecycle import NotFound
from truce.services.notify.outbox import EVENT_KINDS, MACHINE_KINDS
from truce.services.records import InvalidField
from truce.store.models import NotificationPreference, User
from truce.store.work import unit_of_work


def chosen_channels(conn: Connection, user_ids: list[int]) -> dict[tuple[int, str], list[str]]:
    """(user, kind) → channels, for the choices these people made (defaults are not rows)."""
    if not user_ids:
        return {}
    rows = conn.execute(
        select(NotificationPreference.user_id, NotificationPreference.kind, NotificationPreference.channels).where(
            NotificationPreference.user_id.in_(user_ids)
        )
    )
    return {(user_id, kind): _split(channels) for user_id, kind, channels in rows}


def preferences(engine: Engine, config: TruceConfig, email: str) -> dict:
    """A person's channels for every event kind, saying which are their own choice."""
    with engine.connect() as conn:
        user = _user(conn, email)
        chosen = chosen_channels(conn, [user["id"]])
    return _shown(config, user, chosen)


def set_preferences(
    engine: Engine, config: TruceConfig, email: str, choices: Mapping[str, Sequence[str]], *, actor: str, origin: str
) -> dict:
    """Set the channels of the kinds in `choices` (others keep theirs); audited. InvalidField names a bad kind or channel."""
    cleaned = {kind: _checked(kind, channels) for kind, channels in choices.items()}
    with unit_of_work(engine, actor, origin) as work:
        user = _user(work.conn, email)
        before = chosen_channels(work.conn, [user["id"]])
        for kind, channels in cleaned.items():
            _upsert(work.conn, user["id"], kind, channels, work.now)
        work.record(
            "notification_preferences_set",
            "users",
            user["id"],
            before={k: before[(user["id"], k)] for k in cleaned if (user["id"], k) in before},
            after=cleaned,
        )
        after = chosen_channels(work.conn, [user["id"]])
    return _shown(config, user, after)


def _checked(kind: str, channels: Sequence[str]) -> list[str]:
    if kind not in EVENT_KINDS or kind in MACHINE_KINDS:
        raise InvalidField(f"channels.{kind}", f"unknown event kind {kind!r}; known: {', '.join(EVENT_KINDS)}")
    unknown = [c for c in channels if c not in NOTIFY_CHANNELS]
    if unknown:
        raise InvalidField(
            f"channels.{kind}", f"unknown channel {unknown[0]!r} for {kind}; channels: {', '.join(NOTIFY_CHANNELS)}"
        )
    return [c for c in NOTIFY_CHANNELS if c in channels]  # one order, no repeats


def _upsert(conn: Connection, user_id: int, kind: str, channels: list[str], now: dt.datetime) -> None:
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    values = {"user_id": user_id, "kind": kind, "channels": ",".join(channels), "updated_at": now}
    conn.execute(
        dialect_insert(NotificationPreference)
        .values(values)
        .on_conflict_do_update(
            index_elements=["user_id", "kind"], set_={"channels": values["channels"], "updated_at": now}
        )
    )


def _shown(config: TruceConfig, user, chosen: dict) -> dict:
    kinds = []
    for kind in EVENT_KINDS.values():
        if kind.key in MACHINE_KINDS:
            continue  # not a message for a person
        own = chosen.get((user["id"], kind.key))
        kinds.append(
            {
                "kind": kind.key,
                "label": kind.label,
                "urgency": kind.urgency,
                "channels": own if own is not None else config.notify.channels_by_default(kind.key),
                "chosen": own is not None,
            }
        )
    return {"user": user["email"], "kinds": kinds}


def _user(conn: Connection, email: str):
    user = conn.execute(select(User.id, User.email).where(User.email == email.strip().lower())).mappings().first()
    if user is None:
        raise NotFound(f"no user {email!r}")
    return user


def _split(channels: str) -> list[str]:
    return [c for c in channels.split(",") if c]
