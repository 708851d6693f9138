"""Salesforce's REST API through truce's one HTTP client: its error shapes, limits and session rules.

Every call goes to `{instance_url}/services/data/{API_VERSION}/…`. Salesforce answers an error
as a JSON list `[{"message": …, "errorCode": …}]` (the OAuth token endpoint as
`{"error": …, "error_description": …}`); an expired session is 401 INVALID_SESSION_ID (CrmHttp then
signs in again, once); a refused credential at the token endpoint is 400 invalid_grant or
invalid_client (CredentialRevoked); a spent daily allocation is 403 REQUEST_LIMIT_EXCEEDED, which
no backoff cures within a sync, so it stops with RateLimited. Every answer carries
`Sforce-Limit-Info: api-usage=used/limit`; near the limit truce slows down rather than spend the
org's last calls, which its other integrations need too.
"""

from __future__ import annotations

import re

import httpx

from truce.services.connectors.errors import CrmError, RateLimited
from truce.services.connectors.http import CrmHttp, VendorRules

# Winter '25. Bulk 2.0 results must be read with the version that made the job, so one constant.
API_VERSION = "v62.0"
DATA = f"/services/data/{API_VERSION}"
REVOKED_GRANTS = frozenset({"invalid_grant", "invalid_client", "invalid_client_id", "inactive_user", "inactive_org"})
USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
# Share of the daily allocation used → seconds to wait before the next call.
PACE = ((0.98, 10.0), (0.95, 3.0), (0.90, 1.0))


def error_codes(response: httpx.Response) -> list[str]:
    try:
        body = response.json()
    except ValueError:
        return []
    if isinstance(body, list):
        return [str(item.get("errorCode", "")) for item in body if isinstance(item, dict)]
    if isinstance(body, dict):
        return [str(body.get("error") or body.get("errorCode") or "")]
    return []


def message(response: httpx.Response) -> str:
    body = response.json()
    if isinstance(body, list):
        return "; ".join(f"{item.get('errorCode')}: {item.get('message')}" for item in body if isinstance(item, dict))
    if isinstance(body, dict) and "error" in body:
        return f"{body['error']}: {body.get('error_description', '')}".strip(": ")
    return response.text[:300]


def expired(response: httpx.Response) -> bool:
    return response.status_code == 401 and "INVALID_SESSION_ID" in error_codes(response)


def revoked(response: httpx.Response) -> bool:
    return response.status_code in (400, 401) and bool(REVOKED_GRANTS & set(error_codes(response)))


def pace(response: httpx.Response) -> float:
    """Seconds to pause when the org's rolling 24-hour API allocation is nearly spent."""
    found = USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
    if not found or int(found.group(2)) == 0:
        return 0.0
    used = int(found.group(1)) / int(found.group(2))
    return next((seconds for share, seconds in PACE if used >= share), 0.0)


RULES = VendorRules("Salesforce", expired=expired, revoked=revoked, message=message, pace=pace)


def limit_spent(exc: CrmError) -> bool:
    return exc.status == 403 and "REQUEST_LIMIT_EXCEEDED" in str(exc)


def call(http: CrmHttp, method: str, path: str, **kwargs) -> httpx.Response:
    """One API call; a spent daily allocation becomes RateLimited with what to do about it."""
    try:
        return http.request(method, path, **kwargs)
    except RateLimited:
        raise
    except CrmError as exc:
        if limit_spent(exc):
            raise RateLimited(
                f"Salesforce's daily API allocation for this org is spent (REQUEST_LIMIT_EXCEEDED: {exc}). "
                "The sync stops here and resumes from its cursor; see Setup → Company Information → API Requests, "
                "or run it after the rolling 24-hour window frees calls.",
                exc.status,
            ) from None
        raise
