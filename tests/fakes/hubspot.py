"""A fake HubSpot CRM v3 API: the calls truce makes, with HubSpot's documented answers.

Documented shapes it follows (HubSpot's API reference):
- lists and searches answer `{"results": [...], "paging": {"next": {"after": "..."}}}`; searches add
  `total`; a record is `{"id", "properties", "createdAt", "updatedAt", "archived"}` (+ `archivedAt`,
  + `propertiesWithHistory: {name: [{"value", "timestamp", "sourceType"}]}` when asked, newest first);
- search: `filterGroups` (OR of ANDed filters; operators EQ, GT, GTE, LT, LTE), one sort, `limit` ≤ 100,
  `after`; a query yields at most 10,000 results: asking past that is a 400 (`search_cap` lowers it
  for quick tests); ties in the sort come in no promised order (here: highest id first, to prove
  truce does not rely on any);
- batch read: ids that do not resolve are reported under `errors` with status 207;
- v4 associations batch read: `{"results": [{"from": {"id"}, "to": [{"toObjectId", "associationTypes":
  [{"category", "typeId", "label"}]}]}]}`;
- errors: `{"status": "error", "message", "correlationId", "category"}`; 429 carries `errorType:
  RATE_LIMIT` and `policyName`; 401 `INVALID_AUTHENTICATION`;
- non-search answers carry `X-HubSpot-RateLimit-Max/-Remaining/-Interval-Milliseconds` (and daily ones);
  search answers carry none.

Switches: `fail(status, times, path, retry_after)` (429 with or without Retry-After, 503, 500…),
`revoke()`, `break_after(pages)` (every call fails with 500 after that many pages of records, as if
the sync died there), `remaining` (the burst allowance reported). It counts requests (`requests`)
and records every PATCH body (`patches`).

Records live behind `Records` (MemoryRecords here); a benchmark can hand the app another
implementation that makes records on the fly from their ids.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import uuid
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

MODIFIED = {"contacts": "lastmodifieddate"}  # every other object: hs_lastmodifieddate
TIMES = {"lastmodifieddate", "hs_lastmodifieddate", "createdate", "hs_timestamp", "closedate"}
SEARCH_CAP = 10_000


def modified_property(object_name: str) -> str:
    return MODIFIED.get(object_name, "hs_lastmodifieddate")


def to_ms(value) -> int:
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def iso(moment: dt.datetime | str) -> str:
    if isinstance(moment, str):
        moment = dt.datetime.fromisoformat(moment.replace("Z", "+00:00"))
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


@dataclass
class Query:
    """A search request as the fake reads it."""

    groups: list[list[tuple[str, str, str]]]  # OR of ANDed (property, operator, value)
    sort: str
    descending: bool
    offset: int
    limit: int
    properties: list[str]


class Records(Protocol):
    """Where the fake's records come from. Records are HubSpot-shaped dicts (see the module doc)."""

    def search(self, object_name: str, query: Query) -> tuple[int, list[dict]]:
        """(total matches, the page at query.offset)."""

    def listing(self, object_name: str, after: str | None, limit: int, archived: bool) -> tuple[list[dict], str | None]:
        """A page of records in id order after `after`, and the next `after` (None at the end)."""

    def read(self, object_name: str, ids: list[str]) -> list[dict]: ...

    def associations(self, from_object: str, to_object: str, from_id: str) -> list[dict]: ...

    def owners(self) -> list[dict]: ...

    def pipelines(self, object_name: str) -> list[dict]: ...

    def update(self, object_name: str, crm_id: str, properties: dict, at: str) -> dict | None: ...


def _number(name: str, value) -> int | str:
    if value is None or value == "":
        return ""
    if name in TIMES:
        return to_ms(value)
    if name == "hs_object_id":
        return int(value)
    return str(value)


def _matches(record: dict, filters: list[tuple[str, str, str]]) -> bool:
    for name, operator, wanted in filters:
        have, want = _number(name, record["properties"].get(name)), _number(name, wanted)
        if have == "" or type(have) is not type(want):
            return False
        ok = {"EQ": have == want, "GT": have > want, "GTE": have >= want, "LT": have < want, "LTE": have <= want,
              "NEQ": have != want}.get(operator)  # fmt: skip
        if not ok:
            return False
    return True


DEFAULT_PIPELINE = {
    "id": "default",
    "label": "Sales Pipeline",
    "displayOrder": 0,
    "stages": [
        {"id": "appointmentscheduled", "label": "Appointment Scheduled", "displayOrder": 0,
         "metadata": {"isClosed": "false", "probability": "0.2"}},
        {"id": "qualifiedtobuy", "label": "Qualified To Buy", "displayOrder": 1,
         "metadata": {"isClosed": "false", "probability": "0.4"}},
        {"id": "contractsent", "label": "Contract Sent", "displayOrder": 2,
         "metadata": {"isClosed": "false", "probability": "0.9"}},
        {"id": "closedwon", "label": "Closed Won", "displayOrder": 3, "metadata": {"isClosed": "true", "probability": "1.0"}},
        {"id": "closedlost", "label": "Closed Lost", "displayOrder": 4, "metadata": {"isClosed": "true", "probability": "0.0"}},
    ],
}  # fmt: skip


@dataclass
class MemoryRecords:
    """Records the tests put in, with their property history, associations, deletions and merges."""

    live: dict[str, dict[str, dict]] = field(default_factory=lambda: defaultdict(dict))
    archived: dict[str, dict[str, dict]] = field(default_factory=lambda: defaultdict(dict))
    links: dict[tuple[str, str, str], dict[str, list]] = field(default_factory=dict)
    owner_list: list[dict] = field(default_factory=list)
    pipeline_list: list[dict] = field(default_factory=lambda: [DEFAULT_PIPELINE])
    ties_descending: bool = True

    # -- what tests do to the CRM -------------------------------------------------------------

    def put(self, object_name: str, crm_id, modified: str, *, source: str = "CRM_UI", **properties) -> dict:
        """Create or change a record at `modified` (ISO); each changed property gets a history entry."""
        crm_id, at = str(crm_id), iso(modified)
        record = self.live[object_name].get(crm_id)
        if record is None:
            record = {"id": crm_id, "properties": {"hs_object_id": crm_id, "createdate": at}, "history": {},
                      "createdAt": at, "updatedAt": at, "archived": False}  # fmt: skip
            self.live[object_name][crm_id] = record
        for name, value in properties.items():
            value = None if value is None else str(value)
            if record["properties"].get(name) != value:
                record["history"].setdefault(name, []).append(
                    {"value": value or "", "timestamp": at, "sourceType": source}
                )
            record["properties"][name] = value
        record["properties"][modified_property(object_name)] = at
        record["updatedAt"] = at
        return record

    def delete(self, object_name: str, crm_id, at: str) -> None:
        record = self.live[object_name].pop(str(crm_id))
        record.update(archived=True, archivedAt=iso(at))
        self.archived[object_name][str(crm_id)] = record

    def merge(self, object_name: str, loser, survivor, at: str) -> None:
        """The loser stops resolving; the survivor lists it in hs_merged_object_ids and is modified."""
        self.live[object_name].pop(str(loser))
        merged = self.live[object_name][str(survivor)]["properties"].get("hs_merged_object_ids") or ""
        self.put(object_name, survivor, at, hs_merged_object_ids=";".join(p for p in (merged, str(loser)) if p))

    def associate(self, from_object: str, from_id, to_object: str, to_id, type_id: int = 0, label: str | None = None):
        kind = {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": label}
        self.links.setdefault((from_object, to_object, str(from_id)), {})[str(to_id)] = [kind]
        self.links.setdefault((to_object, from_object, str(to_id)), {})[str(from_id)] = [dict(kind, label=None)]

    def add_owner(self, owner_id, email: str | None, first: str = "", last: str = "", archived: bool = False) -> None:
        self.owner_list.append({"id": str(owner_id), "email": email, "firstName": first, "lastName": last,
                                "userId": int(owner_id) + 9000, "createdAt": "2026-01-01T00:00:00.000Z",
                                "updatedAt": "2026-01-01T00:00:00.000Z", "archived": archived, "teams": []})  # fmt: skip

    # -- what the API reads -------------------------------------------------------------------

    def search(self, object_name: str, query: Query) -> tuple[int, list[dict]]:
        found = [
            r for r in self.live[object_name].values() if not query.groups or any(_matches(r, g) for g in query.groups)
        ]
        tie = -1 if self.ties_descending else 1
        found.sort(key=lambda r: (_number(query.sort, r["properties"].get(query.sort)) or 0, tie * int(r["id"])))
        if query.descending:
            found.reverse()
        return len(found), found[query.offset : query.offset + query.limit]

    def listing(self, object_name: str, after: str | None, limit: int, archived: bool) -> tuple[list[dict], str | None]:
        source = (self.archived if archived else self.live)[object_name]
        ordered = sorted(source.values(), key=lambda r: int(r["id"]))
        if after:
            ordered = [r for r in ordered if int(r["id"]) >= int(after)]
        page, rest = ordered[:limit], ordered[limit:]
        return page, (rest[0]["id"] if rest else None)

    def read(self, object_name: str, ids: list[str]) -> list[dict]:
        return [self.live[object_name][i] for i in ids if i in self.live[object_name]]

    def associations(self, from_object: str, to_object: str, from_id: str) -> list[dict]:
        linked = self.links.get((from_object, to_object, from_id), {})
        return [{"toObjectId": int(to_id), "associationTypes": kinds} for to_id, kinds in linked.items()]

    def owners(self) -> list[dict]:
        return self.owner_list

    def pipelines(self, object_name: str) -> list[dict]:
        return self.pipeline_list

    def update(self, object_name: str, crm_id: str, properties: dict, at: str) -> dict | None:
        if crm_id not in self.live[object_name]:
            return None
        return self.put(object_name, crm_id, at, source="INTEGRATION", **properties)


def shaped(record: dict, properties: list[str] | None, with_history: list[str] = ()) -> dict:
    """A record as HubSpot answers it: only the properties asked for (and the defaults)."""
    obj_props = record["properties"]
    names = set(properties or ()) | {"hs_object_id", "createdate", "lastmodifieddate", "hs_lastmodifieddate"}
    answer = {
        "id": record["id"],
        "properties": {n: obj_props.get(n) for n in names if n in obj_props or n in (properties or ())},
        "createdAt": record["createdAt"],
        "updatedAt": record["updatedAt"],
        "archived": record.get("archived", False),
    }
    if record.get("archivedAt"):
        answer["archivedAt"] = record["archivedAt"]
    if with_history:
        answer["propertiesWithHistory"] = {
            n: list(reversed(record.get("history", {}).get(n, []))) for n in with_history
        }  # newest first, as HubSpot lists them
    return answer


def _error(status: int, message: str, category: str, headers: dict | None = None, **more) -> JSONResponse:
    body = {"status": "error", "message": message, "correlationId": str(uuid.uuid4()), "category": category, **more}
    return JSONResponse(body, status_code=status, headers=headers)


@dataclass
class Fault:
    status: int
    times: int
    path: str | None = None
    retry_after: str | None = None


class FakeHubSpot:
    """The fake's state and switches; `app()` serves it."""

    def __init__(self, token: str = "pat-na1-test-token", records: Records | None = None, search_cap: int = SEARCH_CAP):
        self.token, self.records, self.search_cap = token, records or MemoryRecords(), search_cap
        self.requests: list[tuple[str, str, dict, object]] = []
        self.patches: list[tuple[str, str, dict]] = []
        self.faults: list[Fault] = []
        self.revoked = False
        self.remaining: int | None = None  # the burst allowance reported; None: counts down from 190
        self.pages_left: int | None = None
        self.now = "2027-01-10T12:00:00.000Z"  # when PATCHes happen
        self._lock = threading.Lock()

    # switches
    def fail(self, status: int = 503, times: int = 1, path: str | None = None, retry_after: str | None = None) -> None:
        self.faults.append(Fault(status, times, path, retry_after))

    def revoke(self) -> None:
        self.revoked = True

    def break_after(self, pages: int | None) -> None:
        self.pages_left = pages

    def calls(self, method: str | None = None, contains: str = "") -> list[tuple]:
        return [r for r in self.requests if (method is None or r[0] == method) and contains in r[1]]

    # the gate every request passes
    def gate(self, method: str, path: str) -> JSONResponse | None:
        with self._lock:
            if self.revoked:
                return _error(401, "Authentication credentials not found. This API supports OAuth 2.0 authentication "
                              "and you can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview",
                              "INVALID_AUTHENTICATION")  # fmt: skip
            for fault in self.faults:
                if fault.times > 0 and (fault.path is None or fault.path in path):
                    fault.times -= 1
                    return self._fault(fault)
            if self.pages_left is not None and self.pages_left <= 0:
                return _error(500, "internal error (the fake was told to stop here)", "INTERNAL_ERROR")
        return None

    def _fault(self, fault: Fault) -> JSONResponse:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
        if fault.status == 429:
            return JSONResponse(
                {"status": "error", "message": "You have reached your ten_secondly_rolling limit.",
                 "errorType": "RATE_LIMIT", "correlationId": str(uuid.uuid4()), "policyName": "TEN_SECONDLY_ROLLING"},
                status_code=429, headers=headers,
            )  # fmt: skip
        return _error(fault.status, "The service is temporarily unavailable", "SERVICE_UNAVAILABLE", headers)

    def served_page(self) -> None:
        with self._lock:
            if self.pages_left is not None:
                self.pages_left -= 1

    def limit_headers(self) -> dict[str, str]:
        with self._lock:
            used = len(self.requests)
        remaining = self.remaining if self.remaining is not None else max(0, 190 - used % 190)
        return {"X-HubSpot-RateLimit-Max": "190", "X-HubSpot-RateLimit-Remaining": str(remaining),
                "X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Daily": "1000000",
                "X-HubSpot-RateLimit-Daily-Remaining": str(1_000_000 - used)}  # fmt: skip

    def app(self) -> FastAPI:
        return _app(self)


def _page_answer(results: list[dict], after: str | None, **more) -> dict:
    answer = {"results": results, **more}
    if after is not None:
        answer["paging"] = {"next": {"after": str(after), "link": "?after=" + str(after)}}
    return answer


def _fast(content: dict) -> JSONResponse:
    """A JSON answer as is: returning the dict would send every page through FastAPI's encoder,
    which made the fake, not truce, the slow side of the connector benchmark."""
    return JSONResponse(content)


def _app(crm: FakeHubSpot) -> FastAPI:
    app = FastAPI(title="fake HubSpot")
    records = crm.records

    @app.middleware("http")
    async def gate(request: Request, call_next):
        raw = await request.body()
        body = json.loads(raw) if raw else None
        with crm._lock:
            crm.requests.append((request.method, request.url.path, dict(request.query_params), body))
        if request.headers.get("Authorization") != f"Bearer {crm.token}" and not crm.revoked:
            return _error(401, "Authentication credentials not found.", "INVALID_AUTHENTICATION")
        refused = crm.gate(request.method, request.url.path)
        if refused is not None:
            return refused
        response = await call_next(request)
        if not request.url.path.endswith("/search"):  # HubSpot sends no limit headers on searches
            response.headers.update(crm.limit_headers())
        return response

    @app.get("/crm/v3/owners")
    def owners(limit: int = 100, after: str | None = None, archived: bool = False, email: str | None = None):
        listed = [o for o in records.owners() if bool(o.get("archived")) == archived]
        if email:
            listed = [o for o in listed if (o.get("email") or "").lower() == email.lower()]
        start = int(after or 0)
        page = listed[start : start + limit]
        return _fast(_page_answer(page, start + limit if start + limit < len(listed) else None))

    @app.get("/crm/v3/pipelines/{object_name}")
    def pipelines(object_name: str):
        return _fast({"results": records.pipelines(object_name)})

    @app.post("/crm/v3/objects/{object_name}/search")
    def search(object_name: str, body: dict):
        limit = min(int(body.get("limit") or 10), 100)
        offset = int(body.get("after") or 0)
        if offset >= crm.search_cap:
            return _error(
                400, f"Search results are limited to {crm.search_cap} records; narrow the query", "VALIDATION_ERROR"
            )
        sort = body.get("sorts") or [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        if len(sort) > 1:
            return _error(400, "only one sort is allowed", "VALIDATION_ERROR")
        groups = [[(f["propertyName"], f["operator"], f.get("value")) for f in g.get("filters") or []]
                  for g in body.get("filterGroups") or []]  # fmt: skip
        query = Query(groups, sort[0]["propertyName"], sort[0].get("direction") == "DESCENDING", offset, limit,
                      body.get("properties") or [])  # fmt: skip
        total, found = records.search(object_name, query)
        crm.served_page()
        after = offset + len(found) if offset + len(found) < total else None
        return _fast(_page_answer([shaped(r, query.properties) for r in found], after, total=total))

    @app.get("/crm/v3/objects/{object_name}")
    def listing(
        object_name: str, limit: int = 10, after: str | None = None, properties: str = "", archived: bool = False,
        associations: str = "",
    ):
        found, following = records.listing(object_name, after, min(limit, 100), archived)
        crm.served_page()
        answers = [shaped(r, properties.split(",") if properties else []) for r in found]
        for to_object in filter(None, associations.split(",")):
            # Inline, as HubSpot lists them: {"associations": {"contacts": {"results": [{"id", "type"}]}}};
            # a record without any has no entry for that object.
            for answer in answers:
                linked = records.associations(object_name, to_object, answer["id"])
                if linked:
                    results = [{"id": str(link["toObjectId"]), "type": f"{object_name[:-1]}_to_{to_object[:-1]}"}
                               for link in linked]  # fmt: skip
                    answer.setdefault("associations", {})[to_object] = {"results": results}
        return _fast(_page_answer(answers, following))

    @app.post("/crm/v3/objects/{object_name}/batch/read")
    def batch_read(object_name: str, body: dict):
        ids = [str(i["id"]) for i in body.get("inputs") or []]
        found = records.read(object_name, ids)
        answer = {"status": "COMPLETE", "results": [shaped(r, body.get("properties"), body.get("propertiesWithHistory") or [])
                                                     for r in found],
                  "startedAt": crm.now, "completedAt": crm.now}  # fmt: skip
        missing = sorted(set(ids) - {r["id"] for r in found})
        if not missing:
            return _fast(answer)
        answer["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"ids": missing},
                             "message": f"Could not get some {object_name.upper()} objects, they may be deleted or not exist."}]  # fmt: skip
        answer["numErrors"] = 1
        return JSONResponse(answer, status_code=207)

    @app.get("/crm/v3/objects/{object_name}/{crm_id}")
    def read_one(object_name: str, crm_id: str, properties: str = "", propertiesWithHistory: str = ""):  # noqa: N803
        found = records.read(object_name, [crm_id])
        if not found:
            return _error(404, "Object not found.  objectId are usually numeric.", "OBJECT_NOT_FOUND")
        history = [p for p in propertiesWithHistory.split(",") if p]
        return _fast(shaped(found[0], properties.split(",") if properties else [], history))

    @app.patch("/crm/v3/objects/{object_name}/{crm_id}")
    def update(object_name: str, crm_id: str, body: dict):
        properties = body.get("properties") or {}
        crm.patches.append((object_name, crm_id, properties))
        changed = records.update(object_name, crm_id, properties, crm.now)
        if changed is None:
            return _error(404, "Object not found.", "OBJECT_NOT_FOUND")
        return shaped(changed, list(properties))

    @app.post("/crm/v4/associations/{from_object}/{to_object}/batch/read")
    def associations(from_object: str, to_object: str, body: dict):
        ids = [str(i["id"]) for i in body.get("inputs") or []]
        results, empty = [], []
        for from_id in ids:
            linked = records.associations(from_object, to_object, from_id)
            if linked:
                results.append({"from": {"id": from_id}, "to": linked})
            else:
                empty.append(from_id)
        answer = {"status": "COMPLETE", "results": results, "startedAt": crm.now, "completedAt": crm.now}
        if not empty:
            return _fast(answer)
        answer["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND", "context": {"fromObjectId": [i]},
                             "message": f"No {to_object} is associated with {from_object} {i}"} for i in empty]  # fmt: skip
        answer["numErrors"] = len(empty)
        return JSONResponse(answer, status_code=207)

    return app


@contextmanager
def running(crm: FakeHubSpot):
    """Serve the fake on 127.0.0.1; yields its base URL."""
    from tests.live_server import serving

    with serving(crm.app()) as port:
        yield f"http://127.0.0.1:{port}"


def small_crm() -> MemoryRecords:
    """A small company's HubSpot, the same in every test that uses it (the tests count on it):

    owners 101 ann (sales in truce.toml's teams), 102 mark (marketing), 103 without an email;
    companies 201 Acme, 202 Globex; contacts 301 (lead 1 Nov → MQL 3 Nov, Acme's, owned by ann),
    302 (lead, Globex's), 303 without an email; deals 401 won 5,000 (Acme, 301), 402 open 1,200
    (Globex, 302); email 501 by mark to 301 and 302, call 601 by ann to 301, meeting 701 by ann
    with 302, note 801 without an owner on 301.
    """
    crm = MemoryRecords()
    crm.add_owner(101, "ann@acme.example", "Ann", "Seller")
    crm.add_owner(102, "mark@acme.example", "Mark", "Eting")
    crm.add_owner(103, None, "No", "Email")
    crm.put("companies", 201, "2026-11-01T08:00:00Z", name="Acme", domain="acme.example", hubspot_owner_id="101")
    crm.put("companies", 202, "2026-11-01T08:00:01Z", name="Globex", domain="globex.example")
    crm.put("contacts", 301, "2026-11-01T09:00:00Z", email="p1@acme.example", firstname="Pat", lastname="One",
            lifecyclestage="lead", hubspot_owner_id="101")  # fmt: skip
    crm.put("contacts", 301, "2026-11-03T09:00:00Z", lifecyclestage="marketingqualifiedlead")
    crm.put("contacts", 302, "2026-11-02T09:00:00Z", email="p2@globex.example", firstname="Sam", lastname="Two",
            lifecyclestage="lead")  # fmt: skip
    crm.put("contacts", 303, "2026-11-02T10:00:00Z", firstname="No", lastname="Email", lifecyclestage="lead")
    crm.associate("contacts", 301, "companies", 201, type_id=1, label="Primary")
    crm.associate("contacts", 302, "companies", 202, type_id=1, label="Primary")
    crm.put("deals", 401, "2026-11-05T10:00:00Z", dealname="Acme platform", amount="5000", dealstage="closedwon",
            pipeline="default", closedate="2026-11-20T00:00:00Z", hubspot_owner_id="101")  # fmt: skip
    crm.put("deals", 402, "2026-11-06T10:00:00Z", dealname="Globex pilot", amount="1200", dealstage="qualifiedtobuy",
            pipeline="default")  # fmt: skip
    crm.associate("deals", 401, "companies", 201, type_id=5)
    crm.associate("deals", 401, "contacts", 301, type_id=3)
    crm.associate("deals", 402, "companies", 202, type_id=5)
    crm.associate("deals", 402, "contacts", 302, type_id=3)
    crm.put("emails", 501, "2026-11-04T10:00:00Z", hs_timestamp="2026-11-04T10:00:00Z", hubspot_owner_id="102")
    crm.associate("emails", 501, "contacts", 301)
    crm.associate("emails", 501, "contacts", 302)
    crm.put("calls", 601, "2026-11-04T11:00:00Z", hs_timestamp="2026-11-04T11:00:00Z", hubspot_owner_id="101")
    crm.associate("calls", 601, "contacts", 301)
    crm.put("meetings", 701, "2026-11-04T12:00:00Z", hs_timestamp="2026-11-04T12:00:00Z", hubspot_owner_id="101")
    crm.associate("meetings", 701, "contacts", 302)
    crm.put("notes", 801, "2026-11-04T13:00:00Z", hs_timestamp="2026-11-04T13:00:00Z")
    crm.associate("notes", 801, "contacts", 301)
    return crm


TOKEN_ENV = "TEST_HUBSPOT_TOKEN"


def hubspot_config(config, **settings):
    """The config with [connectors.hubspot] settings (teams: ann in sales, mark in marketing, by default)."""
    from truce.config import Connectors, CrmConnector

    settings.setdefault("teams", {"ann@acme.example": "sales", "mark@acme.example": "marketing"})
    settings.setdefault("default_team", "marketing")
    return config.model_copy(update={"connectors": Connectors(hubspot=CrmConnector(**settings))})


def connect(engine, config, base_url: str, monkeypatch, token: str = "pat-na1-test-token"):
    """`truce connect hubspot` against the fake, the token in an environment variable."""
    from truce.services.connectors import connections

    monkeypatch.setenv(TOKEN_ENV, token)
    return connections.connect(
        engine,
        config,
        connections.Request("hubspot", base_url=base_url, secret_env=TOKEN_ENV),
        actor="revops@acme.example",
    )


def connector(engine, config, waits: list | None = None, **options):
    """A HubSpotConnector whose pauses are recorded in `waits`, not slept."""
    from truce.services.connectors import connections
    from truce.services.connectors.hubspot import HubSpotConnector

    options.setdefault("search_per_second", None)
    sink = waits if waits is not None else []
    return HubSpotConnector(connections.get(engine, "hubspot"), config, engine, sleep=sink.append, **options)
