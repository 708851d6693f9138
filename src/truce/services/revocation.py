"""Taking access back: revoke an API token, end a user's sessions, deactivate or reactivate a user,
change a password. One function per use case, called by the CLI, the REST API and the /access page.

Every check of a request reads the store (truce.web.app.caller), so each of these takes effect on
the very next request: a revoked token answers 401, an ended session is sent to log in.

`by` is the user asking through the API or a page, None for the command line (whoever runs it
holds the database). RevOps (`manage_users`) may act on anyone; every user may list and revoke
their own tokens and change their own password. Every change is audited with before and after.
"""

from __future__ import annotations

from sqlalchemy import Engine, func, select, update

from truce.domain.access import Forbidden, can
from truce.services.login_guard import GUARD, LoginGuard
from truce.services.logins import (
    LoginError,
    Who,
    _now,
    check_password,
    end_sessions_of,
    hash_password,
    password_changed,
)
from truce.store.models import ApiToken, User, WebSession
from truce.store.work import unit_of_work


class NoSuchLogin(LookupError):
    """No user or token by that id or email."""


class RevocationRefused(ValueError):
    """The user or token is already in the state asked for, or the change would lock RevOps out."""


def _may_manage(by: Who | None) -> bool:
    return by is None or can(by.role, "manage_users")


def _require_manager(by: Who | None, what: str) -> None:
    if by is not None and not _may_manage(by):
        raise Forbidden(f"a {by.role} user may not {what}; allowed: revops")


def _user(conn, user: int | str):
    """A user row by id or email, with the columns this module needs."""
    columns = (User.id, User.email, User.name, User.team, User.access, User.active, User.password_hash)
    if isinstance(user, int):
        row = conn.execute(select(*columns).where(User.id == user)).first()
    else:
        row = conn.execute(select(*columns).where(User.email == user.strip().lower())).first()
    if row is None:
        raise NoSuchLogin(f"no user {user!r}")
    return row


# ---- tokens ----------------------------------------------------------------------------------------


def _token_json(row) -> dict:
    return {
        "id": row.id,
        "user": row.email,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": row.created_at,
        "last_used_at": row.last_used_at,
        "revoked_at": row.revoked_at,
    }


def _tokens_query():
    return select(
        ApiToken.id,
        User.email,
        ApiToken.name,
        ApiToken.prefix,
        ApiToken.created_at,
        ApiToken.last_used_at,
        ApiToken.revoked_at,
        ApiToken.user_id,
    ).join(User, User.id == ApiToken.user_id)


def list_tokens(engine: Engine, *, by: Who | None = None, user: str | None = None) -> list[dict]:
    """API tokens (never their secret or hash), oldest first: everyone's for RevOps and the CLI,
    else the caller's own. `user` (an email) narrows the list to one user's."""
    if user is not None and by is not None and not _may_manage(by) and user.strip().lower() != by.email:
        raise Forbidden(f"a {by.role} user may list only their own tokens; allowed for others: revops")
    query = _tokens_query().order_by(ApiToken.id)
    if by is not None and not _may_manage(by):
        query = query.where(ApiToken.user_id == by.id)
    elif user is not None:
        with engine.connect() as conn:
            query = query.where(ApiToken.user_id == _user(conn, user).id)
    with engine.connect() as conn:
        return [_token_json(row) for row in conn.execute(query)]


def revoke_token(engine: Engine, token_id: int, *, by: Who | None, actor: str, origin: str = "cli") -> dict:
    """Revoke one token; it is refused from the next request on. The token after."""
    with unit_of_work(engine, actor, origin) as work:
        row = work.conn.execute(_tokens_query().where(ApiToken.id == token_id)).first()
        if row is None:
            raise NoSuchLogin(f"no API token {token_id}")
        if by is not None and not _may_manage(by) and row.user_id != by.id:
            # someone else's: say so, as for any record a role may not touch
            raise Forbidden(f"token {token_id} belongs to {row.email}; a {by.role} user may revoke only their own")
        if row.revoked_at is not None:
            raise RevocationRefused(f"token {token_id} was already revoked at {row.revoked_at.isoformat()}")
        work.conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(revoked_at=work.now))
        said = {"user": row.email, "name": row.name}
        work.record(
            "token_revoke",
            "api_token",
            token_id,
            {**said, "revoked_at": None},
            {**said, "revoked_at": work.now.isoformat()},
        )
    return {**_token_json(row), "revoked_at": work.now}


# ---- users and their sessions ------------------------------------------------------------------------


def deactivate_user(engine: Engine, user: int | str, *, by: Who | None, actor: str, origin: str = "cli") -> dict:
    """Deactivate a user: they can no longer log in, their sessions end and their tokens stop working
    (the tokens stay, unrevoked, and work again if the user is activated)."""
    _require_manager(by, "deactivate users")
    with unit_of_work(engine, actor, origin) as work:
        row = _user(work.conn, user)
        if by is not None and row.id == by.id:
            raise RevocationRefused("you cannot deactivate yourself: ask another RevOps user")
        if not row.active:
            raise RevocationRefused(f"{row.email} is already inactive")
        sessions = end_sessions_of(work.conn, row.id)
        work.conn.execute(update(User).where(User.id == row.id).values(active=False))
        work.record(
            "user_deactivate", "user", row.id, {"active": True, "sessions": sessions}, {"active": False, "sessions": 0}
        )
    return {"id": row.id, "email": row.email, "active": False, "sessions_ended": sessions}


def activate_user(engine: Engine, user: int | str, *, by: Who | None, actor: str, origin: str = "cli") -> dict:
    """Let a deactivated user log in again (with their password and tokens as they were)."""
    _require_manager(by, "activate users")
    with unit_of_work(engine, actor, origin) as work:
        row = _user(work.conn, user)
        if row.active:
            raise RevocationRefused(f"{row.email} is already active")
        work.conn.execute(update(User).where(User.id == row.id).values(active=True))
        work.record("user_activate", "user", row.id, {"active": False}, {"active": True})
    return {"id": row.id, "email": row.email, "active": True}


def end_sessions(engine: Engine, user: int | str, *, by: Who | None, actor: str, origin: str = "cli") -> dict:
    """Log a user out everywhere: every browser session of theirs ends (their tokens are untouched)."""
    _require_manager(by, "end other users' sessions")
    with unit_of_work(engine, actor, origin) as work:
        row = _user(work.conn, user)
        ended = end_sessions_of(work.conn, row.id)
        work.record("sessions_end", "user", row.id, {"sessions": ended}, {"sessions": 0})
    return {"id": row.id, "email": row.email, "sessions_ended": ended}


def list_sessions(engine: Engine, user: int | str, *, by: Who | None = None) -> list[dict]:
    """A user's live sessions (when each began and ends; never a secret)."""
    _require_manager(by, "see other users' sessions")
    with engine.connect() as conn:
        row = _user(conn, user)
        found = conn.execute(
            select(WebSession.id, WebSession.created_at, WebSession.expires_at)
            .where(WebSession.user_id == row.id, WebSession.expires_at > _now())
            .order_by(WebSession.id)
        )
        return [{"id": s.id, "created_at": s.created_at, "expires_at": s.expires_at} for s in found]


# ---- passwords -----------------------------------------------------------------------------------


def set_password(
    engine: Engine,
    user: int | str,
    password: str,
    *,
    by: Who | None,
    actor: str,
    origin: str = "cli",
    revoke_tokens: bool = False,
    guard: LoginGuard | None = None,
) -> dict:
    """RevOps (or the CLI) sets a user's password: all their sessions end; tokens too when asked."""
    _require_manager(by, "set other users' passwords")
    hashed = hash_password(password, (guard or GUARD).checks)
    with unit_of_work(engine, actor, origin) as work:
        row = _user(work.conn, user)
        work.conn.execute(update(User).where(User.id == row.id).values(password_hash=hashed))
        ended = password_changed(work, row.id, row.email, keep_session=None, revoke_tokens=revoke_tokens)
    return {"id": row.id, "email": row.email, **ended}


def change_own_password(
    engine: Engine,
    who: Who,
    current: str,
    new: str,
    *,
    keep_session: str | None,
    revoke_tokens: bool = False,
    address: str | None = None,
    origin: str = "web",
    guard: LoginGuard | None = None,
) -> dict:
    """A user changes their own password, proving the current one (throttled like a log-in). Their
    other sessions end (`keep_session` is the secret of the one asking, if any); tokens when asked."""
    guard = guard or GUARD
    guard.refuse_if_blocked(engine, who.email, address)
    with engine.connect() as conn:
        row = _user(conn, who.id)
    if row.password_hash is None:
        raise LoginError("you have no password to change; RevOps can set one (truce user password)")
    if len(new) < 10:  # before the check, so a short new password costs no guess
        raise LoginError("a password needs at least 10 characters")
    if not check_password(row.password_hash, current, guard.checks):
        throttled = guard.failed(engine, who.email, address, who.id, who.email, origin)
        if throttled is not None:
            raise throttled
        raise LoginError("the current password is not right; nothing was changed")
    hashed = hash_password(new, guard.checks)
    with unit_of_work(engine, who.email, origin) as work:
        work.conn.execute(update(User).where(User.id == who.id).values(password_hash=hashed))
        ended = password_changed(work, who.id, who.email, keep_session=keep_session, revoke_tokens=revoke_tokens)
    return ended


# ---- the /access page ------------------------------------------------------------------------------


def access_overview(engine: Engine, by: Who) -> dict:
    """What the /access page shows: the caller's tokens; for RevOps also every user who can log in
    or holds a token, with their live sessions, and every token."""
    tokens = list_tokens(engine, by=by)
    if not _may_manage(by):
        return {"users": None, "tokens": tokens, "without_login": 0}
    with engine.connect() as conn:
        sessions = dict(
            conn.execute(
                select(WebSession.user_id, func.count())
                .where(WebSession.expires_at > _now())
                .group_by(WebSession.user_id)
            ).all()
        )
        live = dict(
            conn.execute(
                select(ApiToken.user_id, func.count()).where(ApiToken.revoked_at.is_(None)).group_by(ApiToken.user_id)
            ).all()
        )
        rows = conn.execute(
            select(User.id, User.email, User.name, User.team, User.access, User.active, User.password_hash).order_by(
                User.active.desc(), User.email
            )
        ).all()
    holders = {t["user"] for t in tokens}
    users = [
        {
            "id": r.id,
            "email": r.email,
            "name": r.name,
            "team": r.team,
            "access": r.access,
            "active": r.active,
            "password_set": r.password_hash is not None,
            "sessions": sessions.get(r.id, 0),
            "tokens": live.get(r.id, 0),
        }
        for r in rows
        if r.password_hash is not None or r.id in sessions or r.email in holders
    ]
    return {"users": users, "tokens": tokens, "without_login": len(rows) - len(users)}
