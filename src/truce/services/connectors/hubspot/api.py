"""HubSpot's CRM v3 REST calls truce makes, through the one HTTP client (CrmHttp).

Every call is listed in docs/connectors.md (## HubSpot) with what it reads and why. A private-app
token is sent as `Authorization: Bearer`; it never expires, so a 401 means it was revoked or
deleted and the sync stops with that said. HubSpot reports its burst allowance in
`X-HubSpot-RateLimit-Remaining` / `-Interval-Milliseconds`: when it is (nearly) spent we wait one
interval. The search endpoints send no such headers and allow only a few requests a second per
token, so searches are paced on our side.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

import httpx

from truce.services.connectors.http import CrmHttp, VendorRules

# A search query returns at most this many results in all; past it the query must be re-windowed.
SEARCH_CAP = 10_000
PAGE_LIMIT = 100  # HubSpot's largest page for lists, searches and owners
# Pause when the burst allowance left is this low: another sync or app may share the token.
NEARLY_SPENT = 2


def _message(response: httpx.Response) -> str:
    body = response.json()
    category = body.get("category") or body.get("errorType") or ""
    return f"{body.get('message', '')} ({category})" if category else str(body.get("message", ""))


def _revoked(response: httpx.Response) -> bool:
    # Private-app tokens have no refresh: any 401 is a token HubSpot no longer accepts.
    return response.status_code == 401


def _burst_pause(response: httpx.Response) -> float:
    remaining = response.headers.get("X-HubSpot-RateLimit-Remaining")
    interval = response.headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
    if remaining is None or interval is None:
        return 0.0
    try:
        return int(interval) / 1000 if int(remaining) <= NEARLY_SPENT else 0.0
    except ValueError:
        return 0.0


class SearchPace:
    """At most `per_second` searches in any second (HubSpot's search limit per token)."""

    def __init__(self, per_second: float | None, clock: Callable[[], float] = time.monotonic):
        self.per_second, self.clock = per_second, clock
        self.recent: deque[float] = deque()

    def __call__(self, response: httpx.Response) -> float:
        pause = _burst_pause(response)
        if not self.per_second or not response.request.url.path.endswith("/search"):
            return pause
        now = self.clock()
        self.recent.append(now)
        while self.recent and now - self.recent[0] >= 1.0:
            self.recent.popleft()
        if len(self.recent) >= self.per_second:
            pause = max(pause, 1.0 - (now - self.recent[0]))
            self.recent.clear()  # the pause starts a fresh second
        return pause


def rules(search_per_second: float | None = 4) -> VendorRules:
    return VendorRules(
        name="HubSpot",
        expired=lambda response: False,
        revoked=_revoked,
        message=_message,
        pace=SearchPace(search_per_second),
    )


class HubSpotApi:
    """The calls, each returning HubSpot's JSON as it is documented."""

    def __init__(self, http: CrmHttp, page_limit: int = PAGE_LIMIT):
        self.http, self.limit = http, min(page_limit, PAGE_LIMIT)

    def close(self) -> None:
        self.http.close()

    def owners(self, after: str | None, archived: bool = False) -> dict:
        """GET /crm/v3/owners: the users records are assigned to (`id`, `email`, names), `after` paging."""
        params = {"limit": self.limit, "archived": str(archived).lower()} | ({"after": after} if after else {})
        return self.http.request("GET", "/crm/v3/owners", params=params).json()

    def owner_by_email(self, email: str) -> dict | None:
        found = self.http.request("GET", "/crm/v3/owners", params={"email": email, "limit": 1}).json()
        return next(iter(found.get("results") or []), None)

    def pipelines(self, object_name: str = "deals") -> dict:
        """GET /crm/v3/pipelines/deals: every pipeline's stages with `label` and `metadata.isClosed/probability`."""
        return self.http.request("GET", f"/crm/v3/pipelines/{object_name}").json()

    def search(self, object_name: str, filter_groups: list[dict], sort: str, properties: Iterable[str],
               after: str | None) -> dict:  # fmt: skip
        """POST /crm/v3/objects/{object}/search, sorted ascending on one property (HubSpot allows one sort)."""
        body = {
            "filterGroups": filter_groups,
            "sorts": [{"propertyName": sort, "direction": "ASCENDING"}],
            "properties": list(properties),
            "limit": self.limit,
        }
        if after:
            body["after"] = after
        return self.http.request("POST", f"/crm/v3/objects/{object_name}/search", json=body).json()

    def listing(
        self, object_name: str, properties: Iterable[str], after: str | None, archived: bool = False,
        associations: Iterable[str] = (),
    ) -> dict:  # fmt: skip
        """GET /crm/v3/objects/{object}: every record (or every archived one), `after` paging, no 10,000 cap.
        `associations` asks for the ids of associated records inline, in each record's `associations`."""
        params = {"limit": self.limit, "properties": ",".join(properties), "archived": str(archived).lower()}
        if associations:
            params["associations"] = ",".join(associations)
        if after:
            params["after"] = after
        return self.http.request("GET", f"/crm/v3/objects/{object_name}", params=params).json()

    def batch_read(self, object_name: str, ids: list[str], properties: Iterable[str] = (),
                   with_history: Iterable[str] = ()) -> dict:  # fmt: skip
        """POST /crm/v3/objects/{object}/batch/read: records by id, optionally `propertiesWithHistory`.
        Ids that do not resolve come back under `errors` (207), not as a failure."""
        body = {"inputs": [{"id": i} for i in ids], "properties": list(properties)}
        if with_history:
            body["propertiesWithHistory"] = list(with_history)
        return self.http.request("POST", f"/crm/v3/objects/{object_name}/batch/read", json=body).json()

    def associations(self, from_object: str, to_object: str, ids: list[str]) -> dict[str, list[dict]]:
        """POST /crm/v4/associations/{from}/{to}/batch/read: {from id: [{toObjectId, associationTypes}]}."""
        if not ids:
            return {}
        body = {"inputs": [{"id": i} for i in ids]}
        found = self.http.request("POST", f"/crm/v4/associations/{from_object}/{to_object}/batch/read", json=body)
        return {str(r["from"]["id"]): r.get("to") or [] for r in found.json().get("results") or []}

    def read_one(self, object_name: str, crm_id: str, properties: list[str]) -> httpx.Response | None:
        """GET /crm/v3/objects/{object}/{id}?propertiesWithHistory=…: None when the record is gone (404)."""
        from truce.services.connectors.errors import CrmError

        params = {"properties": ",".join(properties), "propertiesWithHistory": ",".join(properties)}
        try:
            return self.http.request("GET", f"/crm/v3/objects/{object_name}/{crm_id}", params=params)
        except CrmError as exc:
            if exc.status == 404:
                return None
            raise

    def update(self, object_name: str, crm_id: str, properties: dict[str, str]) -> dict:
        """PATCH /crm/v3/objects/{object}/{id} with {"properties": {...}}."""
        return self.http.request(
            "PATCH", f"/crm/v3/objects/{object_name}/{crm_id}", json={"properties": properties}
        ).json()
