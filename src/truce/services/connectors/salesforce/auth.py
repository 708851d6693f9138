"""Signing in to Salesforce: OAuth 2.0 client-credentials or JWT bearer flow, no user password.

Both flows POST to `{login_url}/services/oauth2/token` and get back an access token and the org's
`instance_url`, which is where the API lives (it can move: a My Domain change, an instance split),
so the answer's URL is used from then on and kept on the connection. There is no refresh token in
either flow: an expired session simply signs in again.

- client_credentials: client_id (the connected app's consumer key) and client_secret (the
  connection's secret). The token request must go to the org's My Domain URL.
- jwt_bearer: an RS256-signed assertion with iss = client_id, sub = the username truce acts as,
  aud = the login URL, exp at most 3 minutes ahead (Salesforce's limit), signed with the private key
  whose certificate is uploaded to the connected app (the connection's secret, in PEM).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from truce.services.connectors.connections import Connection

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import jwt
from sqlalchemy import Engine, update

from truce.services.connectors.errors import CredentialRevoked, CrmError
from truce.services.connectors.http import CrmHttp
from truce.store.models import CrmConnection
from truce.store.work import unit_of_work

JWT_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
JWT_LIFETIME = dt.timedelta(minutes=3)


def assertion(client_id: str, username: str, audience: str, private_key_pem: str, now: dt.datetime) -> str:
    claims = {
        "iss": client_id,
        "sub": username,
        "aud": audience.rstrip("/"),
        "exp": int((now + JWT_LIFETIME).timestamp()),
    }
    try:
        return jwt.encode(claims, private_key_pem, algorithm="RS256")
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise CredentialRevoked(
            f"the JWT bearer key of this Salesforce connection is not a usable RSA private key in PEM ({type(exc).__name__}); "
            "run `truce connect salesforce --auth jwt_bearer --token-env …` with the key"
        ) from None


def token_form(connection, now: dt.datetime) -> dict[str, str]:
    settings = connection.settings
    secret = connection.secret()
    if not secret:
        raise CredentialRevoked(
            f"the Salesforce connection {connection.name!r} has no secret; run `truce connect salesforce` again"
        )
    if connection.auth == "jwt_bearer":
        login = settings["login_url"]
        return {
            "grant_type": JWT_GRANT,
            "assertion": assertion(settings["client_id"], settings["username"], login, secret, now),
        }
    return {"grant_type": "client_credentials", "client_id": settings["client_id"], "client_secret": secret}


@dataclass
class SignIn:
    """The access token and instance URL of one connector's life; `token` is CrmHttp's token hook."""

    connection: Connection
    http: CrmHttp
    engine: Engine | None
    clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    instance_url: str | None = None
    sign_ins: int = 0

    def token(self, fresh: bool) -> str:
        login = self.connection.settings.get("login_url", "").rstrip("/")
        answer = self.http.request(
            "POST", f"{login}/services/oauth2/token", authorised=False, data=token_form(self.connection, self.clock())
        )
        body = answer.json()
        if "access_token" not in body or "instance_url" not in body:
            raise CrmError(
                f"Salesforce's token answer had no access_token/instance_url (keys: {', '.join(sorted(body))})"
            )
        self.sign_ins += 1
        self._follow_instance(body["instance_url"].rstrip("/"))
        return body["access_token"]

    def _follow_instance(self, url: str) -> None:
        """Calls go where the token says the org lives; the connection remembers it (audited)."""
        self.http.base_url = url
        if url == self.instance_url:
            return
        self.instance_url = url
        if url != self.connection.base_url.rstrip("/") and self.engine is not None:
            with unit_of_work(self.engine, "sync", "sync") as work:
                work.conn.execute(
                    update(CrmConnection).where(CrmConnection.id == self.connection.id).values(base_url=url)
                )
                work.record("crm_instance_moved", "crm_connection", self.connection.id,
                            {"base_url": self.connection.base_url}, {"base_url": url})  # fmt: skip
