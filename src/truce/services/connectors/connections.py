"""`truce connect` and `truce connections`: the CRMs truce reads from and writes back to.

A connection names its system (hubspot, salesforce), how truce signs in (a HubSpot private-app
token; Salesforce's OAuth 2.0 JWT bearer or client-credentials flow), the API's base URL (so a
sandbox, a proxy or a test server can stand in for the vendor) and where its secret lives. The
secret itself is never returned by anything here except `Connection.secret()`, which the
connector calls at the moment it signs in (truce.services.connectors.secrets).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, insert, select, update

from truce.config import TruceConfig
from truce.services.connectors import secrets
from truce.store.models import CRM_SYSTEMS, CrmConnection, CrmSyncCursor, CrmSyncReject, CrmSyncRun
from truce.store.work import unit_of_work

# How each system may sign in, the first being the default.
AUTH_OF = {"hubspot": ("private_app_token",), "salesforce": ("client_credentials", "jwt_bearer")}
DEFAULT_BASE_URL = {"hubspot": "https://api.hubapi.com"}
DEFAULT_LOGIN_URL = "https://login.salesforce.com"
# Settings each sign-in needs besides the secret.
NEEDS = {"private_app_token": (), "client_credentials": ("client_id",), "jwt_bearer": ("client_id", "username")}
NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
URL = re.compile(r"^https?://[^\s/]+(?:/[^\s]*)?$")


class ConnectionProblem(ValueError):
    """A connection asked for that cannot be made as given; the message says what to change."""


class NoSuchConnection(LookupError):
    pass


@dataclass(frozen=True)
class Connection:
    """A stored connection, as the connectors use it. Its secrets stay out of repr and out of `public()`."""

    id: int
    name: str
    system: str
    auth: str
    base_url: str
    settings: dict
    active: bool
    created_at: dt.datetime
    created_by: str
    revoked_at: dt.datetime | None
    last_sync_at: dt.datetime | None
    last_error: str | None
    last_error_at: dt.datetime | None
    secret_env: str | None
    webhook_secret_env: str | None
    _secret_sealed: str | None = field(default=None, repr=False)
    _webhook_secret_sealed: str | None = field(default=None, repr=False)

    def secret(self) -> str | None:
        return secrets.read(self.secret_env, self._secret_sealed)

    def webhook_secret(self) -> str | None:
        return secrets.read(self.webhook_secret_env, self._webhook_secret_sealed)

    def public(self) -> dict:
        """What a person or a report may see: where the secret lives, never the secret."""
        return {
            "name": self.name,
            "system": self.system,
            "auth": self.auth,
            "base_url": self.base_url,
            "settings": dict(self.settings),
            "active": self.active,
            "secret": _where_secret(self.secret_env, self._secret_sealed),
            "webhook_secret": _where_secret(self.webhook_secret_env, self._webhook_secret_sealed),
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "revoked_at": _iso(self.revoked_at),
            "last_sync_at": _iso(self.last_sync_at),
            "last_error": self.last_error,
            "last_error_at": _iso(self.last_error_at),
        }


def _where_secret(env: str | None, sealed: str | None) -> str:
    if env:
        return f"environment variable {env}"
    return "sealed in the store" if sealed else "none"


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _from_row(row) -> Connection:
    return Connection(
        row.id, row.name, row.system, row.auth, row.base_url, dict(row.settings or {}), row.active,
        row.created_at, row.created_by, row.revoked_at, row.last_sync_at, row.last_error, row.last_error_at,
        row.secret_env, row.webhook_secret_env, row.secret_sealed, row.webhook_secret_sealed,
    )  # fmt: skip


@dataclass
class Request:
    """What `truce connect` was asked for. Secrets come as a variable's name or as a value to seal."""

    system: str
    name: str | None = None
    auth: str | None = None
    base_url: str | None = None
    settings: dict = field(default_factory=dict)
    secret_env: str | None = None
    secret: str | None = field(default=None, repr=False)
    webhook_secret_env: str | None = None
    webhook_secret: str | None = field(default=None, repr=False)


def connect(engine: Engine, config: TruceConfig, request: Request, actor: str, origin: str = "cli") -> Connection:
    """Store (or replace) a connection. Its audit entry says where the secret lives, never what it is."""
    values = _checked(config, request)
    with unit_of_work(engine, actor, origin) as work:
        stored = work.conn.execute(select(CrmConnection).where(CrmConnection.name == values["name"])).first()
        if stored is None:
            values |= {"created_at": work.now, "created_by": actor, "active": True}
            connection_id = work.conn.execute(insert(CrmConnection).returning(CrmConnection.id), values).scalar_one()
            action = "crm_connect"
        else:
            connection_id = stored.id
            values |= {"active": True, "revoked_at": None, "last_error": None, "last_error_at": None}
            work.conn.execute(update(CrmConnection).where(CrmConnection.id == connection_id).values(values))
            action = "crm_reconnect"
        row = work.conn.execute(select(CrmConnection).where(CrmConnection.id == connection_id)).one()
        work.record(action, "crm_connection", connection_id, None, _audit_view(row))
    return _from_row(row)


def _audit_view(row) -> dict:
    view = _from_row(row).public()
    return {k: view[k] for k in ("name", "system", "auth", "base_url", "settings", "secret", "webhook_secret")}


def _checked(config: TruceConfig, request: Request) -> dict:
    system = request.system
    if system not in CRM_SYSTEMS:
        raise ConnectionProblem(f"unknown CRM {system!r}; truce connects to {', '.join(CRM_SYSTEMS)}")
    name = request.name or system
    if not NAME.match(name):
        raise ConnectionProblem(f"connection name {name!r}: use lower-case letters, digits, - and _ (at most 64)")
    auth = request.auth or AUTH_OF[system][0]
    if auth not in AUTH_OF[system]:
        raise ConnectionProblem(f"{system} signs in with {' or '.join(AUTH_OF[system])}, not {auth!r}")
    settings = {k: v for k, v in request.settings.items() if v not in (None, "")}
    missing = [k for k in NEEDS[auth] if not settings.get(k)]
    if missing:
        flags = ", ".join("--" + k.replace("_", "-") for k in missing)
        raise ConnectionProblem(f"{system} with {auth} needs {flags}")
    if system == "salesforce":
        settings.setdefault("login_url", config.connectors.salesforce.login_url or DEFAULT_LOGIN_URL)
    base_url = _base_url(config, system, request.base_url)
    secret_env, sealed = _secret(request.secret_env, request.secret, "secret", required=True, system=system)
    hook_env, hook_sealed = _secret(request.webhook_secret_env, request.webhook_secret, "webhook secret")
    return {
        "name": name, "system": system, "auth": auth, "base_url": base_url, "settings": settings,
        "secret_env": secret_env, "secret_sealed": sealed,
        "webhook_secret_env": hook_env, "webhook_secret_sealed": hook_sealed,
    }  # fmt: skip


def _base_url(config: TruceConfig, system: str, given: str | None) -> str:
    settings = getattr(config.connectors, system)
    url = given or (settings.instance_url if system == "salesforce" else None) or settings.base_url
    url = url or DEFAULT_BASE_URL.get(system)
    if not url:
        raise ConnectionProblem(
            "salesforce needs its instance URL: --base-url https://yourcompany.my.salesforce.com "
            "(or [connectors.salesforce] instance_url in truce.toml)"
        )
    if not URL.match(url):
        raise ConnectionProblem(f"base URL {url!r} is not an http(s) URL")
    return url.rstrip("/")


def _secret(env: str | None, value: str | None, what: str, required: bool = False, system: str = "") -> tuple:
    if env and value:
        raise ConnectionProblem(f"give the {what} as an environment variable or to seal, not both")
    if env:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", env):
            raise ConnectionProblem(f"{env!r} is not an environment variable name")
        secrets.from_environment(env)  # fail now, not at the first sync
        return env, None
    if value:
        return None, secrets.seal(value)
    if required:
        raise ConnectionProblem(
            f"{system} needs a {what}: --token-env NAME (read from that environment variable when truce "
            "signs in) or --token-stdin (sealed with the key outside the store)"
        )
    return None, None


def revoke(engine: Engine, name: str, actor: str, origin: str = "cli") -> Connection:
    """Stop using a connection: no more syncs or write-backs, its sealed secrets wiped. Kept on record."""
    with unit_of_work(engine, actor, origin) as work:
        row = _row(work.conn, name)
        work.conn.execute(
            update(CrmConnection)
            .where(CrmConnection.id == row.id)
            .values(active=False, revoked_at=work.now, secret_sealed=None, webhook_secret_sealed=None)
        )
        work.record("crm_revoke", "crm_connection", row.id, {"active": row.active}, {"active": False})
        row = work.conn.execute(select(CrmConnection).where(CrmConnection.id == row.id)).one()
    return _from_row(row)


def _row(conn, name: str):
    row = conn.execute(select(CrmConnection).where(CrmConnection.name == name)).first()
    if row is None:
        known = conn.execute(select(CrmConnection.name).order_by(CrmConnection.name)).scalars().all()
        hint = (
            f"; known: {', '.join(known)}"
            if known
            else "; add one with `truce connect hubspot` or `truce connect salesforce`"
        )
        raise NoSuchConnection(f"no connection called {name!r}{hint}")
    return row


def get(engine: Engine, name: str) -> Connection:
    with engine.connect() as conn:
        return _from_row(_row(conn, name))


def active(engine: Engine) -> list[Connection]:
    with engine.connect() as conn:
        rows = conn.execute(select(CrmConnection).where(CrmConnection.active.is_(True)).order_by(CrmConnection.name))
        return [_from_row(row) for row in rows]


def listing(engine: Engine) -> list[dict]:
    """Every connection with its cursors, its last run, its open rejects and its write-backs waiting,
    in conflict or dead: `truce connections`."""
    from truce.services.connectors.writeback import write_counts

    with engine.connect() as conn:
        rows = conn.execute(select(CrmConnection).order_by(CrmConnection.name)).all()
        result = []
        for row in rows:
            entry = _from_row(row).public()
            entry["cursors"] = [
                {"object": c.object, "cursor": c.cursor, "position": c.position, "records": c.records,
                 "updated_at": _iso(c.updated_at)}
                for c in conn.execute(
                    select(CrmSyncCursor).where(CrmSyncCursor.connection_id == row.id).order_by(CrmSyncCursor.object)
                )
            ]  # fmt: skip
            last = conn.execute(
                select(CrmSyncRun).where(CrmSyncRun.connection_id == row.id).order_by(CrmSyncRun.id.desc()).limit(1)
            ).first()
            entry["last_run"] = _run_view(last) if last else None
            entry["open_rejects"] = conn.execute(
                select(func.count())
                .select_from(CrmSyncReject)
                .where(CrmSyncReject.connection_id == row.id, CrmSyncReject.resolved_at.is_(None))
            ).scalar_one()
            entry["writes"] = write_counts(conn, row.id, row.name)
            result.append(entry)
        return result


def _run_view(run) -> dict:
    return {
        "id": run.id, "full": run.full, "status": run.status, "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at), "counts": run.counts, "differences": run.differences, "error": run.error,
    }  # fmt: skip


def rejects(engine: Engine, name: str, *, open_only: bool = True, limit: int = 200) -> list[dict]:
    with engine.connect() as conn:
        row = _row(conn, name)
        query = select(CrmSyncReject).where(CrmSyncReject.connection_id == row.id)
        if open_only:
            query = query.where(CrmSyncReject.resolved_at.is_(None))
        found = conn.execute(query.order_by(CrmSyncReject.id.desc()).limit(limit))
        return [
            {"object": r.object, "crm_id": r.crm_id, "reason": r.reason, "seen_at": _iso(r.seen_at),
             "resolved_at": _iso(r.resolved_at), "run_id": r.run_id}
            for r in found
        ]  # fmt: skip
