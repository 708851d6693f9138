"""Users who log in: passwords (Argon2id), browser sessions with CSRF tokens, and API tokens.

Secrets are random 32-byte values shown once; the store keeps only their SHA-256 (a fast hash
is right for random secrets: there is nothing to guess), and Argon2id for passwords, which
people choose.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, select, update

from truce.domain.access import role_of
from truce.services.login_guard import GUARD, LoginGuard, PasswordChecks, clear_account
from truce.store.models import ApiToken, User, WebSession
from truce.store.work import StoreBusy, Work, record, unit_of_work
from truce.vocabulary import ACCESS as ACCESS
from truce.vocabulary import TEAMS as VOCABULARY_TEAMS

SESSION_DAYS = 14
TOKEN_PREFIX = "truce_"
# Listed sales first: the order `truce users add` names them in its errors.
TEAMS = ("sales", *(team for team in VOCABULARY_TEAMS if team != "sales"))


class LoginError(ValueError):
    """Bad credentials or a bad request to manage them; the message is safe to show."""


@dataclass(frozen=True)
class Who:
    """The user behind a request."""

    id: int
    email: str
    name: str
    team: str
    role: str


TOKEN_USE_PRECISION = dt.timedelta(minutes=1)
TOKEN_USE_WAIT = 0.05  # seconds a token's last-use note may wait for a busy store


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _sha(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _hasher():
    from argon2 import PasswordHasher

    return PasswordHasher()


# What a password is checked against when there is nothing to check it against (no such user, or
# one without a password): the hash of a random value nobody kept, made with PasswordHasher's
# parameters, so that the answer costs what a wrong password costs and tells nobody who has an
# account. If those parameters change, a new one is made once (_nobodys_hash).
_NOBODY = "$argon2id$v=19$m=65536,t=3,p=4$LamSvSJnUaafj7oss91Exg$z1LzNX7Zefut990JEPu195dL4cQv8WLuFyUBZhoWWHY"


def _nobodys_hash() -> str:
    global _NOBODY
    if _hasher().check_needs_rehash(_NOBODY):
        _NOBODY = _hasher().hash(secrets.token_urlsafe(32))
    return _NOBODY


def hash_password(password: str, checks: PasswordChecks | None = None) -> str:
    if len(password) < 10:
        raise LoginError("a password needs at least 10 characters")
    with (checks or GUARD.checks).slot():
        return _hasher().hash(password)


def check_password(stored: str | None, password: str, checks: PasswordChecks | None = None) -> bool:
    """Whether `password` matches the `stored` hash; the same Argon2 work when nothing is stored."""
    from argon2.exceptions import InvalidHashError, VerificationError

    with (checks or GUARD.checks).slot():
        try:
            matched = _hasher().verify(stored or _nobodys_hash(), password)
        except (VerificationError, InvalidHashError):
            return False
    return matched and stored is not None


def add_user(
    engine: Engine,
    *,
    email: str,
    team: str,
    role: str = "member",
    name: str | None = None,
    password: str | None = None,
    actor: str = "cli",
    revoke_tokens: bool = False,
    origin: str = "cli",
    checks: PasswordChecks | None = None,
) -> int:
    """Create a user, or update team, access and password of an existing one. Returns the id.

    A new password for an existing user ends all their sessions (and, with `revoke_tokens`,
    revokes their API tokens): whoever knew the old one is logged out.
    """
    email = email.strip().lower()
    if "@" not in email or email.startswith("@") or email.endswith("@"):
        raise LoginError(f"{email!r} is not an email address")
    if team not in TEAMS:
        raise LoginError(f"unknown team {team!r}; choose one of {', '.join(TEAMS)}")
    if role not in ACCESS:
        raise LoginError(f"unknown role {role!r}; choose member or viewer")
    hashed = hash_password(password, checks) if password is not None else None
    with unit_of_work(engine, actor, origin) as work:
        conn = work.conn
        found = conn.execute(select(User.id, User.team, User.access).where(User.email == email)).first()
        now = _now()
        if found is None:
            user_id = conn.execute(
                insert(User)
                .values(
                    email=email,
                    name=name or email.split("@")[0].replace(".", " ").title(),
                    team=team,
                    access=role,
                    password_hash=hashed,
                    active=True,
                    is_leader=False,
                    created_at=now,
                )
                .returning(User.id)
            ).scalar_one()
            before = None
        else:
            user_id = found.id
            values = {"team": team, "access": role}
            if hashed:
                values["password_hash"] = hashed
            conn.execute(update(User).where(User.id == user_id).values(**values))
            before = {"team": found.team, "access": found.access}
        after = {"email": email, "team": team, "access": role, "password_set": hashed is not None}
        work.record("user_add" if before is None else "user_update", "user", user_id, before, after, at=now)
        if before is not None and hashed:
            password_changed(work, user_id, email, keep_session=None, revoke_tokens=revoke_tokens)
    return user_id


def password_changed(work: Work, user_id: int, email: str, *, keep_session: str | None, revoke_tokens: bool) -> dict:
    """After a user's password was set in `work`: end their sessions but `keep_session` (the secret of
    the one that made the change), revoke their tokens when asked, forget their failed log-ins,
    and audit it all as one `password_change` entry. Returns what was ended."""
    conn = work.conn
    sessions_before = _session_count(conn, user_id)
    tokens_before = live_token_ids(conn, user_id)
    ended = end_sessions_of(conn, user_id, keep_hash=_sha(keep_session) if keep_session else None)
    revoked = revoke_tokens_of(conn, user_id, work.now) if revoke_tokens else []
    clear_account(conn, email)
    work.record(
        "password_change",
        "user",
        user_id,
        {"sessions": sessions_before, "tokens": tokens_before},
        {"sessions": sessions_before - ended, "tokens": [t for t in tokens_before if t not in revoked]},
    )
    return {"sessions_ended": ended, "tokens_revoked": revoked}


def _session_count(conn, user_id: int, keep_hash: str | None = None) -> int:
    """The user's sessions that have not expired (but the one whose hash is `keep_hash`)."""
    query = select(func.count()).where(WebSession.user_id == user_id, WebSession.expires_at > _now())
    if keep_hash is not None:
        query = query.where(WebSession.session_hash != keep_hash)
    return conn.execute(query).scalar_one()


def end_sessions_of(conn, user_id: int, keep_hash: str | None = None) -> int:
    """End the user's sessions (but the one whose hash is `keep_hash`); how many live ones ended."""
    live = _session_count(conn, user_id, keep_hash)
    statement = delete(WebSession).where(WebSession.user_id == user_id)
    if keep_hash is not None:
        statement = statement.where(WebSession.session_hash != keep_hash)
    conn.execute(statement)
    return live


def live_token_ids(conn, user_id: int) -> list[int]:
    return list(
        conn.execute(
            select(ApiToken.id).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
        ).scalars()
    )


def revoke_tokens_of(conn, user_id: int, now: dt.datetime) -> list[int]:
    """Revoke every live token of the user; their ids."""
    ids = live_token_ids(conn, user_id)
    if ids:
        conn.execute(update(ApiToken).where(ApiToken.id.in_(ids)).values(revoked_at=now))
    return ids


def _who(row) -> Who:
    return Who(row.id, row.email, row.name, row.team, role_of(row.team, row.access))


def log_in(
    engine: Engine, email: str, password: str, *, address: str | None = None, guard: LoginGuard | None = None
) -> tuple[str, str, Who]:
    """(session secret for the cookie, CSRF token, the user).

    LoginError on bad credentials; Throttled when the email or the client `address` has failed too
    often (before any password check); ChecksBusy when too many checks are running already.
    """
    guard = guard or GUARD
    email = email.strip().lower()
    guard.refuse_if_blocked(engine, email, address)
    # The password is checked before the write begins: Argon2 takes a fifth of a second, and the
    # store's write lock must not wait for it.
    with engine.connect() as conn:
        row = conn.execute(select(User).where(User.email == email)).first()
    # The same work whoever the email names — nobody, an inactive user, one without a password —
    # and one message for all of them, so neither the answer nor its time tells who has an account.
    right = check_password(row.password_hash if row else None, password, guard.checks)
    if row is None or not (right and row.active):
        throttled = guard.failed(engine, email, address, row.id if row else None, "web", "web")
        if throttled is not None:
            raise throttled
        raise LoginError("wrong email or password")
    secret, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    with unit_of_work(engine, row.email, "web") as work:
        now = _now()
        expires = now + dt.timedelta(days=SESSION_DAYS)
        work.conn.execute(
            insert(WebSession).values(
                user_id=row.id, session_hash=_sha(secret), csrf_token=csrf, created_at=now, expires_at=expires
            )
        )
        guard.succeeded(work.conn, email)
        _audit_session(work.conn, row.email, "log_in", row.id, None, {"session_expires_at": expires.isoformat()}, now)
    return secret, csrf, _who(row)


def _audit_session(conn, actor: str, action: str, user_id: int, before, after, now: dt.datetime) -> None:
    record(conn, action, "user", user_id, before, after, actor=actor, at=now)


def session_user(engine: Engine, secret: str | None) -> tuple[Who, str] | None:
    """(the user, the session's CSRF token) for a live session cookie, else None."""
    if not secret:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(User, WebSession.csrf_token)
            .join(WebSession, WebSession.user_id == User.id)
            .where(WebSession.session_hash == _sha(secret), WebSession.expires_at > _now(), User.active)
        ).first()
    return (_who(row), row.csrf_token) if row else None


def log_out(engine: Engine, secret: str | None) -> None:
    """End the session whose cookie holds `secret`; audited in the user's name like the log-in."""
    if not secret:
        return
    with unit_of_work(engine, "web", "web") as work:
        conn = work.conn
        session = conn.execute(
            select(WebSession.id, WebSession.expires_at, User.id.label("user_id"), User.email)
            .join(User, User.id == WebSession.user_id)
            .where(WebSession.session_hash == _sha(secret))
        ).first()
        if session is None:
            return
        conn.execute(delete(WebSession).where(WebSession.id == session.id))
        before = {"session_expires_at": session.expires_at.isoformat()}
        _audit_session(conn, session.email, "log_out", session.user_id, before, None, _now())


def create_token(engine: Engine, *, email: str, name: str = "api", actor: str = "cli") -> str:
    """A new API token for the user; the only time it is shown."""
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work(engine, actor, "cli") as work:
        conn = work.conn
        user = conn.execute(select(User.id).where(User.email == email.strip().lower(), User.active)).first()
        if user is None:
            raise LoginError(f"no active user {email!r}; add one with: truce user add {email} --team …")
        now = _now()
        token_id = conn.execute(
            insert(ApiToken)
            .values(
                user_id=user.id,
                name=name,
                prefix=secret[: len(TOKEN_PREFIX) + 6],
                token_hash=_sha(secret),
                created_at=now,
            )
            .returning(ApiToken.id)
        ).scalar_one()
        work.record("token_create", "api_token", token_id, None, {"user": email, "name": name}, at=now)
    return secret


def token_user(engine: Engine, secret: str | None) -> Who | None:
    found = token_lookup(engine, secret)
    if found is None:
        return None
    who, token_id, used_long_ago = found
    if used_long_ago:
        touch_token(engine, token_id)
    return who


def token_lookup(engine: Engine, secret: str | None) -> tuple[Who, int, bool] | None:
    """(the token's user, its id, whether its last use is older than a minute); a read only."""
    if not secret:
        return None
    with engine.connect() as conn:
        row = conn.execute(
            select(User, ApiToken.id.label("token_id"), ApiToken.last_used_at.label("token_used_at"))
            .join(ApiToken, ApiToken.user_id == User.id)
            .where(ApiToken.token_hash == _sha(secret), ApiToken.revoked_at.is_(None), User.active)
        ).first()
    if row is None:
        return None
    # A write per request would queue every reader behind the store's one writer: a minute's precision will do.
    used_long_ago = row.token_used_at is None or _now() - row.token_used_at > TOKEN_USE_PRECISION
    return _who(row), row.token_id, used_long_ago


def touch_token(engine: Engine, token_id: int) -> None:
    """Note the token's use. It is bookkeeping: when the store is busy (an import is writing) the note
    is skipped rather than make the read wait or fail; the next request a minute on tries again."""
    try:
        with unit_of_work(engine, "api", "api", wait=TOKEN_USE_WAIT) as work:
            work.conn.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=_now()))
    except StoreBusy:
        pass
