"""A fake Salesforce org on 127.0.0.1: the documented subset of the REST API truce calls, over a store the tests fill.

What it answers, in Salesforce's documented shapes (REST API and Bulk API 2.0 developer guides):
- POST /services/oauth2/token — client_credentials (client_id + client_secret) and the JWT bearer
  grant (assertion verified with the connected app's public key: RS256, iss = client id, sub =
  username, aud = login URL, exp at most 3 minutes ahead). Answer: access_token, instance_url,
  token_type, issued_at, id, scope; refusals: 400 {"error": "invalid_grant"|"invalid_client", "error_description"}.
- GET /services/data/v62.0/queryAll?q=SOQL (and …/queryAll/<locator> for the next batch) —
  {"totalSize", "done", "nextRecordsUrl"?, "records": [{"attributes": {"type", "url"}, …}]}, deleted
  rows with IsDeleted = true, parents' fields nested ("ConvertedContact": {…}); batch size from
  `Sforce-Query-Options: batchSize=N`. Its SOQL: SELECT … FROM … [WHERE …] [ORDER BY …] with
  AND/OR, parentheses, = != > < >= <=, IN (…), datetime literals.
- POST /services/data/v62.0/jobs/query, GET …/jobs/query/{id} (InProgress, then JobComplete),
  GET …/jobs/query/{id}/results?maxRecords=&locator= — CSV, `Sforce-Locator` ("null" at the end),
  `Sforce-NumberOfRecords`.
- PATCH /services/data/v62.0/sobjects/{Object}/{Id} — 204, or 412 when `If-Unmodified-Since` is
  older than the record's LastModifiedDate; 404 NOT_FOUND.
Every API answer carries `Sforce-Limit-Info: api-usage=used/limit`; errors are
[{"message", "errorCode"}] (401 INVALID_SESSION_ID, 403 REQUEST_LIMIT_EXCEEDED).

Switches for tests: `throttle` (429/503 with or without Retry-After), `expire_sessions`, `revoke`,
`fail_next_batches` (a page that fails once), `spend_limit`, `break_after` (every call fails with 500
UNKNOWN_EXCEPTION once that many query batches of an object were served, as if the sync died there); changes: `add`, `update`, `delete`,
`merge`, `convert`, `history`. It counts requests (`requests`) and keeps PATCH bodies (`patches`).
"""

from __future__ import annotations

import csv
import datetime as dt
import email.utils
import io
import itertools
import re
import secrets
import threading
from collections import defaultdict
from contextlib import contextmanager

import jwt
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from truce import config as truce_config
from truce.services.connectors import connections
from truce.services.connectors.salesforce import SalesforceConnector
from truce.services.connectors.sync import sync

VERSION = "v62.0"
PREFIXES = {
    "User": "005", "Account": "001", "Contact": "003", "Lead": "00Q", "Campaign": "701", "Opportunity": "006",
    "CampaignMember": "00v", "Task": "00T", "Event": "00U", "LeadHistory": "017", "OpportunityFieldHistory": "017",
}  # fmt: skip
HISTORY = ("LeadHistory", "OpportunityFieldHistory")


def sf_time(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def parse_time(text: str) -> dt.datetime:
    text = text.replace("Z", "+00:00")
    if re.search(r"[+-]\d{4}$", text):
        text = f"{text[:-2]}:{text[-2:]}"
    return dt.datetime.fromisoformat(text)


def error(status: int, code: str, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse([{"message": message, "errorCode": code}], status_code=status, headers=headers)


# -- a small SOQL reader: enough for the queries truce sends ----------------------------------------

TOKEN = re.compile(r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<op>!=|>=|<=|=|>|<|\(|\)|,)|(?P<word>[A-Za-z0-9_.:+\-]+))")
DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})$")


class Soql:
    def __init__(self, text: str):
        self.tokens, position = [], 0
        while position < len(text.rstrip()):
            found = TOKEN.match(text, position)
            if not found or found.end() == position:
                raise ValueError(f"unexpected text at {text[position : position + 20]!r}")
            kind = found.lastgroup
            self.tokens.append((kind, found.group(kind)))
            position = found.end()
        self.at = 0
        self._expect_word("SELECT")
        self.fields = self._list_of_words("FROM")
        self.object = self._word()
        self.where = None
        self.order: list[str] = []
        if self._peek_word("WHERE"):
            self.at += 1
            self.where = self._or()
        if self._peek_word("ORDER"):
            self.at += 1
            self._expect_word("BY")
            self.order = self._list_of_words(None)
        if self.at != len(self.tokens):
            raise ValueError(f"unexpected {self.tokens[self.at][1]!r}")

    def _peek_word(self, word: str) -> bool:
        return self.at < len(self.tokens) and self.tokens[self.at][1].upper() == word

    def _expect_word(self, word: str) -> None:
        if not self._peek_word(word):
            raise ValueError(f"expected {word}")
        self.at += 1

    def _word(self) -> str:
        kind, value = self.tokens[self.at]
        if kind != "word":
            raise ValueError(f"expected a name, found {value!r}")
        self.at += 1
        return value

    def _list_of_words(self, until: str | None) -> list[str]:
        words = [self._word()]
        while self.at < len(self.tokens) and self.tokens[self.at][1] == ",":
            self.at += 1
            words.append(self._word())
        if until:
            self._expect_word(until)
        return words

    def _or(self):
        parts = [self._and()]
        while self._peek_word("OR"):
            self.at += 1
            parts.append(self._and())
        return ("or", parts)

    def _and(self):
        parts = [self._factor()]
        while self._peek_word("AND"):
            self.at += 1
            parts.append(self._factor())
        return ("and", parts)

    def _factor(self):
        if self.tokens[self.at][1] == "(":
            self.at += 1
            inner = self._or()
            self.at += 1  # ")"
            return inner
        field = self._word()
        kind, op = self.tokens[self.at]
        self.at += 1
        if op.upper() == "IN":
            self.at += 1  # "("
            values = [self._value()]
            while self.tokens[self.at][1] == ",":
                self.at += 1
                values.append(self._value())
            self.at += 1  # ")"
            return ("in", field, values)
        return ("cmp", field, op, self._value())

    def _value(self):
        kind, raw = self.tokens[self.at]
        self.at += 1
        if kind == "str":
            return re.sub(r"\\(.)", r"\1", raw[1:-1])
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        if raw.lower() == "null":
            return None
        if DATETIME.match(raw):
            return parse_time(raw)
        return float(raw)


def _comparable(stored, wanted):
    if isinstance(wanted, dt.datetime):
        return parse_time(stored) if stored else None
    return stored


def matches(condition, record: dict) -> bool:
    if condition is None:
        return True
    kind = condition[0]
    if kind == "or":
        return any(matches(part, record) for part in condition[1])
    if kind == "and":
        return all(matches(part, record) for part in condition[1])
    if kind == "in":
        return record.get(condition[1]) in condition[2]
    _, field, op, wanted = condition
    stored = _comparable(record.get(field), wanted)
    if op == "=":
        return stored == wanted
    if op == "!=":
        return stored != wanted
    if stored is None or wanted is None:
        return False
    return {">": stored > wanted, "<": stored < wanted, ">=": stored >= wanted, "<=": stored <= wanted}[op]


def _order_key(record: dict, fields: list[str]):
    key = []
    for field in fields:
        value = record.get(field)
        key.append(
            parse_time(value) if isinstance(value, str) and DATETIME.match(value.replace("+0000", "Z")) else value
        )
    return key


# -- the org ----------------------------------------------------------------------------------------


class FakeSalesforce:
    def __init__(self, *, client_id: str = "3MVG9-truce-app", client_secret: str = "sf-client-secret",
                 username: str = "truce@acme.example", public_key: str | None = None,
                 org_id: str = "00D5g000000TRUCEAAA", batch_size: int = 2000, job_polls: int = 1):  # fmt: skip
        self.client_id, self.client_secret, self.username = client_id, client_secret, username
        self.public_key, self.org_id = public_key, org_id
        self.batch_size, self.job_polls = batch_size, job_polls
        self.store: dict[str, dict[str, dict]] = defaultdict(dict)
        self.lock = threading.RLock()
        self.now = dt.datetime(2026, 12, 1, 9, 0, tzinfo=dt.UTC)
        self._ids = itertools.count(1)
        self.tokens: set[str] = set()
        self.revoked = False
        self.sign_ins = 0
        self.jwt_claims: list[dict] = []
        self.requests: list[tuple[str, str]] = []
        self.patches: list[dict] = []
        self.throttles: list[tuple[int, str | None]] = []
        self.failing_batches = 0
        self.batches_left: int | None = None
        self.breaking_object: str | None = None
        self.limit_spent = False
        self.api_used, self.api_limit = 0, 15_000
        self.url = self.instance_url = ""
        self.login_url = ""
        self._batches: dict[str, list[dict]] = {}
        self._jobs: dict[str, dict] = {}
        self.app = Starlette(routes=[
            Route("/services/oauth2/token", self._token, methods=["POST"]),
            Route("/services/data/{version}/queryAll", self._query_all, methods=["GET"]),
            Route("/services/data/{version}/queryAll/{locator}", self._more, methods=["GET"]),
            Route("/services/data/{version}/jobs/query", self._create_job, methods=["POST"]),
            Route("/services/data/{version}/jobs/query/{job}", self._job, methods=["GET"]),
            Route("/services/data/{version}/jobs/query/{job}/results", self._results, methods=["GET"]),
            Route("/services/data/{version}/sobjects/{obj}/{record_id}", self._patch, methods=["PATCH"]),
        ])  # fmt: skip

    # -- what tests do to the org ----------------------------------------------------------------

    def tick(self, seconds: float = 1) -> str:
        self.now += dt.timedelta(seconds=seconds)
        return sf_time(self.now)

    def add(self, obj: str, *, at: str | None = None, **fields) -> str:
        with self.lock:
            record_id = f"{PREFIXES[obj]}{next(self._ids):012d}AAA"
            moment = at or self.tick()
            record = {"Id": record_id, "CreatedDate": moment, "IsDeleted": False} | fields
            if obj not in HISTORY:
                record |= {"SystemModstamp": moment, "LastModifiedDate": moment}
            self.store[obj][record_id] = record
            return record_id

    def update(self, obj: str, record_id: str, *, at: str | None = None, **fields) -> None:
        with self.lock:
            moment = at or self.tick()
            self.store[obj][record_id] |= fields | {"SystemModstamp": moment, "LastModifiedDate": moment}

    def delete(self, obj: str, record_id: str) -> None:
        self.update(obj, record_id, IsDeleted=True)

    def merge(self, obj: str, loser: str, master: str) -> None:
        """As Salesforce merges: the loser deleted with MasterRecordId, the master touched."""
        self.update(obj, loser, IsDeleted=True, MasterRecordId=master)
        self.update(obj, master)

    def history(self, obj: str, parent_field: str, parent_id: str, field: str, old, new, **more) -> str:
        return self.add(obj, **{parent_field: parent_id, "Field": field, "OldValue": old, "NewValue": new, **more})

    def record(self, obj: str, record_id: str) -> dict:
        return dict(self.store[obj][record_id])

    def throttle(self, times: int = 1, *, status: int = 429, retry_after: str | None = None) -> None:
        self.throttles += [(status, retry_after)] * times

    def expire_sessions(self) -> None:
        self.tokens.clear()

    def revoke(self) -> None:
        self.revoked = True
        self.tokens.clear()

    def fail_next_batches(self, times: int = 1) -> None:
        """The next continuation batches (…/queryAll/<locator>) answer 503 once each."""
        self.failing_batches += times

    def spend_limit(self) -> None:
        self.limit_spent = True

    def break_after(self, batches: int | None, sobject: str | None = None) -> None:
        """After `batches` query batches (of `sobject`, or of any object), every API call answers 500."""
        self.batches_left, self.breaking_object = batches, sobject

    def _served(self, body: dict) -> dict:
        records = body.get("records") or []
        kind = records[0]["attributes"]["type"] if records else None
        with self.lock:
            if self.batches_left is not None and (self.breaking_object in (None, kind)):
                self.batches_left -= 1
        return body

    def api_calls(self, fragment: str = "") -> int:
        return sum(1 for _, path in self.requests if "/services/data/" in path and fragment in path)

    # -- the API -----------------------------------------------------------------------------------

    async def _token(self, request: Request) -> Response:
        form = dict(await request.form())
        self.requests.append(("POST", request.url.path))
        if self.revoked:
            return JSONResponse({"error": "invalid_grant", "error_description": "expired access/refresh token"}, 400)
        grant = form.get("grant_type")
        if grant == "client_credentials":
            if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
                return JSONResponse({"error": "invalid_client", "error_description": "invalid client credentials"}, 400)
        elif grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            refusal = self._check_assertion(form.get("assertion", ""))
            if refusal:
                return JSONResponse({"error": "invalid_grant", "error_description": refusal}, 400)
        else:
            return JSONResponse(
                {"error": "unsupported_grant_type", "error_description": "grant type not supported"}, 400
            )
        token = "00D!" + secrets.token_urlsafe(24)
        with self.lock:
            self.tokens.add(token)
            self.sign_ins += 1
        return JSONResponse({
            "access_token": token, "instance_url": self.instance_url, "token_type": "Bearer",
            "id": f"{self.login_url}/id/{self.org_id}/005000000000000AAA", "scope": "api",
            "issued_at": str(int(self.now.timestamp() * 1000)), "signature": "fake",
        })  # fmt: skip

    def _check_assertion(self, assertion: str) -> str | None:
        try:
            claims = jwt.decode(assertion, self.public_key, algorithms=["RS256"], audience=self.login_url,
                                issuer=self.client_id, options={"require": ["exp", "iss", "sub", "aud"]})  # fmt: skip
        except jwt.PyJWTError as exc:
            return f"invalid assertion: {exc}"
        self.jwt_claims.append(claims)
        if claims["sub"] != self.username:
            return "user hasn't approved this consumer"
        if claims["exp"] - dt.datetime.now(dt.UTC).timestamp() > 185:
            return "invalid assertion: exp more than 3 minutes ahead"
        return None

    def _guard(self, request: Request) -> Response | None:
        """What every API call goes through: counting, the session, throttles, the daily allocation."""
        with self.lock:
            self.requests.append(
                (request.method, request.url.path + (f"?{request.url.query}" if request.url.query else ""))
            )
            if request.path_params.get("version") != VERSION:
                return error(404, "NOT_FOUND", "The requested resource does not exist")
            bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
            if bearer not in self.tokens:
                return error(401, "INVALID_SESSION_ID", "Session expired or invalid")
            self.api_used += 1
            if self.throttles:
                status, wait = self.throttles.pop(0)
                return error(status, "REQUEST_LIMIT_EXCEEDED" if status == 429 else "SERVER_UNAVAILABLE",
                             "slow down", {"Retry-After": wait} if wait else None)  # fmt: skip
            if self.limit_spent:
                return error(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
            if self.batches_left is not None and self.batches_left <= 0:
                return error(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred (the fake was told to stop here)")
        return None

    def _limits(self, response: Response) -> Response:
        response.headers["Sforce-Limit-Info"] = f"api-usage={self.api_used}/{self.api_limit}"
        return response

    def select(self, text: str, include_deleted: bool = True) -> tuple[Soql, list[dict]]:
        query = Soql(text)
        with self.lock:
            found = [r for r in self.store[query.object].values() if include_deleted or not r.get("IsDeleted")]
            found = [r for r in found if matches(query.where, r)]
        if query.order:
            found.sort(key=lambda r: _order_key(r, query.order))
        return query, [self._shape(query, r) for r in found]

    def _shape(self, query: Soql, record: dict) -> dict:
        out = {
            "attributes": {
                "type": query.object,
                "url": f"/services/data/{VERSION}/sobjects/{query.object}/{record['Id']}",
            }
        }
        for field in query.fields:
            if "." in field:
                relation, _, name = field.partition(".")
                parent = self._find(record.get(f"{relation}Id"))
                if parent is None:
                    out[relation] = None
                else:
                    kind, row = parent
                    nested = out.get(relation) or {"attributes": {"type": kind}}
                    nested[name] = row.get(name)
                    out[relation] = nested
            else:
                out[field] = record.get(field)
        return out

    def _find(self, record_id: str | None):
        if not record_id:
            return None
        for kind, records in self.store.items():
            if record_id in records:
                return kind, records[record_id]
        return None

    async def _query_all(self, request: Request) -> Response:
        refused = self._guard(request)
        if refused:
            return refused
        try:
            _, records = self.select(request.query_params["q"])
        except (ValueError, IndexError) as exc:
            return error(400, "MALFORMED_QUERY", str(exc))
        size = self._batch_size(request)
        return self._limits(JSONResponse(self._served(self._batch(records, size, len(records)))))

    def _batch_size(self, request: Request) -> int:
        found = re.search(r"batchSize=(\d+)", request.headers.get("Sforce-Query-Options", ""))
        return min(self.batch_size, int(found.group(1))) if found else self.batch_size

    def _batch(self, records: list[dict], size: int, total: int) -> dict:
        body = {"totalSize": total, "done": len(records) <= size, "records": records[:size]}
        if len(records) > size:
            locator = f"01g{secrets.token_hex(6)}-{total - len(records) + size}"
            self._batches[locator] = (records[size:], size, total)
            body["nextRecordsUrl"] = f"/services/data/{VERSION}/queryAll/{locator}"
        return body

    async def _more(self, request: Request) -> Response:
        refused = self._guard(request)
        if refused:
            return refused
        if self.failing_batches:
            self.failing_batches -= 1
            return error(503, "SERVER_UNAVAILABLE", "the server is busy; try again")
        kept = self._batches.get(request.path_params["locator"])
        if kept is None:
            return error(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        records, size, total = kept
        return self._limits(JSONResponse(self._served(self._batch(records, size, total))))

    async def _create_job(self, request: Request) -> Response:
        refused = self._guard(request)
        if refused:
            return refused
        body = await request.json()
        try:
            query, records = self.select(body["query"], include_deleted=body.get("operation") == "queryAll")
        except (ValueError, IndexError) as exc:
            return error(400, "INVALIDJOB", str(exc))
        job = f"750{next(self._ids):012d}AAA"
        self._jobs[job] = {"fields": query.fields, "records": records, "polls": 0, "object": query.object}
        return self._limits(JSONResponse({"id": job, "operation": body.get("operation"), "object": query.object,
                                          "state": "UploadComplete", "contentType": "CSV", "apiVersion": 62.0,
                                          "lineEnding": "LF", "columnDelimiter": "COMMA"}))  # fmt: skip

    async def _job(self, request: Request) -> Response:
        refused = self._guard(request)
        if refused:
            return refused
        job = self._jobs.get(request.path_params["job"])
        if job is None:
            return error(404, "NOT_FOUND", "no such job")
        job["polls"] += 1
        state = "JobComplete" if job["polls"] > self.job_polls else "InProgress"
        return self._limits(JSONResponse({"id": request.path_params["job"], "state": state, "object": job["object"],
                                          "numberRecordsProcessed": len(job["records"])}))  # fmt: skip

    async def _results(self, request: Request) -> Response:
        refused = self._guard(request)
        if refused:
            return refused
        job = self._jobs.get(request.path_params["job"])
        if job is None:
            return error(404, "NOT_FOUND", "no such job")
        start = int(request.query_params.get("locator") or 0)
        count = int(request.query_params.get("maxRecords") or 10_000)
        chunk = job["records"][start : start + count]
        following = str(start + count) if start + count < len(job["records"]) else "null"
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(job["fields"])
        for record in chunk:
            writer.writerow([_csv_cell(_dotted(record, f)) for f in job["fields"]])
        headers = {"Sforce-Locator": following, "Sforce-NumberOfRecords": str(len(chunk))}
        return self._limits(Response(out.getvalue(), media_type="text/csv", headers=headers))

    async def _patch(self, request: Request) -> Response:
        refused = self._guard(request)
        if refused:
            return refused
        obj, record_id = request.path_params["obj"], request.path_params["record_id"]
        body = await request.json()
        with self.lock:
            record = self.store.get(obj, {}).get(record_id)
            if record is None:
                return error(404, "NOT_FOUND", "The requested resource does not exist")
            since = request.headers.get("If-Unmodified-Since")
            modified = parse_time(record["LastModifiedDate"]).replace(microsecond=0)
            if since and modified > email.utils.parsedate_to_datetime(since):
                return self._limits(error(412, "PRECONDITION_FAILED", "The requested resource has been modified"))
            self.patches.append({"object": obj, "id": record_id, "body": body, "if_unmodified_since": since})
        self.update(obj, record_id, **body)
        return self._limits(Response(status_code=204))


def _dotted(record: dict, field: str):
    if "." not in field:
        return record.get(field)
    relation, _, name = field.partition(".")
    parent = record.get(relation)
    return parent.get(name) if parent else None


def _csv_cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


@contextmanager
def serving(fake: FakeSalesforce, *, instance_host: str = "127.0.0.1"):
    """Serve the org on a free port; its login URL and (unless a test changes it) instance URL."""
    from tests.live_server import serving as serve_app

    with serve_app(fake.app) as port:
        fake.url = fake.login_url = f"http://127.0.0.1:{port}"
        fake.instance_url = f"http://{instance_host}:{port}"
        yield fake


def small_org(fake: FakeSalesforce) -> dict[str, str]:
    """The org most tests start from (ids by name). Every value here is checked in the tests by hand."""
    ids = {}
    ids["ann"] = fake.add("User", Email="ann@acme.example", FirstName="Ann", LastName="Seller", Name="Ann Seller",
                          IsActive=True)  # fmt: skip
    ids["mia"] = fake.add("User", Email="Mia@Acme.example", FirstName="Mia", LastName="Marketer", Name="Mia Marketer",
                          IsActive=True)  # fmt: skip
    ids["acme"] = fake.add("Account", Name="Acme", Website="https://www.acme.example", Industry="Software",
                           NumberOfEmployees=250, BillingCountry="Germany", OwnerId=ids["ann"])  # fmt: skip
    ids["carl"] = fake.add("Contact", Email="carl@acme.example", FirstName="Carl", LastName="Buyer", Title="CFO",
                           AccountId=ids["acme"], LeadSource="Web", OwnerId=ids["ann"])  # fmt: skip
    ids["lena"] = fake.add("Lead", Email="lena@beta.example", FirstName="Lena", LastName="Lead", Company="Beta GmbH",
                           LeadSource="Webinar", Status="Raw - New", OwnerId=ids["mia"], IsConverted=False)  # fmt: skip
    ids["otto"] = fake.add("Lead", Email="otto@gamma.example", FirstName="Otto", LastName="Other", Company="Gamma",
                           Status="Working - Contacted", OwnerId=ids["ann"], IsConverted=False)  # fmt: skip
    ids["webinar"] = fake.add("Campaign", Name="December webinar", Type="Webinar", BudgetedCost=5000.0,
                              ActualCost=4200.5, StartDate="2026-11-01", EndDate="2026-12-15", OwnerId=ids["mia"])  # fmt: skip
    ids["deal"] = fake.add("Opportunity", Name="Acme expansion", AccountId=ids["acme"], Amount=48000.0,
                           StageName="Prospecting", CloseDate="2027-03-31", CampaignId=ids["webinar"],
                           OwnerId=ids["ann"])  # fmt: skip
    ids["deal_moved"] = fake.history("OpportunityFieldHistory", "OpportunityId", ids["deal"], "StageName",
                                     "Prospecting", "Qualification", CreatedById=ids["ann"])  # fmt: skip
    fake.update("Opportunity", ids["deal"], StageName="Qualification")
    ids["member"] = fake.add("CampaignMember", CampaignId=ids["webinar"], LeadId=ids["lena"], Status="Responded",
                             FirstRespondedDate="2026-11-20")  # fmt: skip
    ids["call"] = fake.add("Task", WhoId=ids["carl"], TaskSubtype="Call", OwnerId=ids["ann"],
                           CompletedDateTime="2026-11-25T14:30:00.000+0000")  # fmt: skip
    ids["todo"] = fake.add("Task", WhoId=None, TaskSubtype="Task", OwnerId=ids["ann"])  # names no person: no touch
    ids["meeting"] = fake.add(
        "Event", WhoId=ids["lena"], OwnerId=ids["ann"], StartDateTime="2026-11-27T10:00:00.000+0000"
    )
    return ids


# -- what the Salesforce tests share ------------------------------------------------------------------

# The default truce.toml with one more lead status (a lead not yet an MQL), pages of 2, and Mia a marketer.
TOML = (
    truce_config.default_text().replace(
        "[mapping.salesforce.lead_status]\n", '[mapping.salesforce.lead_status]\n"Raw - New" = "inquiry"\n'
    )
    + '\n[connectors.salesforce]\npage_size = 2\nteams = { "mia@acme.example" = "marketing" }\n'
)


def connect(engine, config, fake: FakeSalesforce, monkeypatch):
    """A client-credentials connection to the fake org, its secret in SF_SECRET."""
    monkeypatch.setenv("SF_SECRET", fake.client_secret)
    connections.connect(
        engine, config,
        connections.Request("salesforce", base_url=fake.url, secret_env="SF_SECRET",
                            settings={"client_id": fake.client_id, "login_url": fake.login_url}),
        actor="revops@acme.example",
    )  # fmt: skip
    return engine


def connector(engine, config, **options) -> SalesforceConnector:
    """The real connector, with no real sleeping and Bulk API sets of 2."""
    options.setdefault("sleep", lambda seconds: None)
    options.setdefault("bulk_set_size", 2)
    return SalesforceConnector(connections.get(engine, "salesforce"), config, engine, **options)


def run(engine, config, full: bool = False, **options):
    return sync(engine, config, "salesforce", full=full, connector=connector(engine, config, **options))


class Killed(SalesforceConnector):
    """Dies after handing over `pages` pages, as a process killed between two pages would."""

    def __init__(self, *args, pages: int, **options):
        super().__init__(*args, **options)
        self.left = pages

    def pages(self, obj, cursor, position, full):
        for page in super().pages(obj, cursor, position, full):
            if self.left == 0:
                raise RuntimeError("killed")
            self.left -= 1
            yield page
