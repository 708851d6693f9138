"""The Salesforce connector: REST API (SOQL on queryAll) for changes, Bulk API 2.0 for full reads.

What it reads, in order (references first): User, Account, Contact, Lead (with each page's
LeadHistory Status changes), Campaign, Opportunity, CampaignMember, Task, Event,
OpportunityFieldHistory. Each object has its own cursor (truce.services.connectors.salesforce.soql).

Leads and their history. A lead whose Status changes has a LeadHistory row with the moment; that
row becomes a dated ledger move (through [mapping.salesforce.lead_status] and the funnel's rules).
Were the lead's new status written first, the importer would also record the same move at the
moment of the sync (it cannot know the CRM dated it), so a page of leads is written as two pages:
first the leads (those with Status history without their status) and their history, which moves
their stage; then the statuses of those leads, which by then change nothing but the text. The
cursor moves with the second. `fetch` (one page) leaves that status text to the next sync.

Converted leads. Salesforce converts a lead into a Contact (and Account, Opportunity); the
person is one. A converted lead is therefore written as its Contact (ConvertedContactId, with the
Contact's e-mail), its history is that Contact's, a conversion without tracked Status history is
one dated move (ConvertedDate), and a truce person still held under the lead's id is merged into
the Contact's (its touches follow; its ledger stays). Contacts are read before leads for this.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator

import httpx
from sqlalchemy import Engine

from truce.config import TruceConfig
from truce.services.connectors.errors import CrmError
from truce.services.connectors.http import CrmHttp
from truce.services.connectors.protocol import CrmObject, Page, WriteResult
from truce.services.connectors.salesforce import bulk, soql
from truce.services.connectors.salesforce.api import DATA, RULES, call
from truce.services.connectors.salesforce.auth import SignIn
from truce.services.connectors.salesforce.objects import (
    BY_NAME,
    LEAD_HISTORY,
    SPECS,
    Rows,
    Spec,
    crm_id,
    flat,
    touch_id,
    yes,
)
from truce.services.connectors.salesforce.write_back import Translator, write

__all__ = ["SalesforceConnector"]
ID_CHUNK = 200  # ids per `IN (…)`: a GET's query string must stay well under 16 KB


class SalesforceConnector:
    system = "salesforce"

    def __init__(
        self,
        connection,
        config: TruceConfig,
        engine: Engine | None,
        *,
        client: httpx.Client | None = None,
        sleep: Callable[[float], None] | None = None,
        clock: Callable[[], dt.datetime] | None = None,
        bulk_set_size: int = 50_000,
    ):
        settings = config.connectors.salesforce
        self.sleep = sleep or time.sleep
        self.http = CrmHttp(connection.base_url, RULES, token=lambda fresh: self.session.token(fresh),
                            max_attempts=settings.max_attempts, sleep=self.sleep, client=client)  # fmt: skip
        self.session = SignIn(connection, self.http, engine, clock or (lambda: dt.datetime.now(dt.UTC)))
        self.rows = Rows(config)
        self.page_size = settings.page_size
        self.bulk_set_size = bulk_set_size
        self.translator = Translator(config, engine)

    def objects(self) -> list[CrmObject]:
        return [CrmObject(s.name, s.table, "salesforce", id_prefix=s.id_prefix) for s in SPECS]

    def close(self) -> None:
        self.http.close()

    # -- reading ------------------------------------------------------------------------------

    def pages(self, obj: CrmObject, cursor: str | None, position: str | None, full: bool) -> Iterator[Page]:
        spec = BY_NAME[obj.name]
        if full and spec.bulk:
            yield from self._bulk_pages(spec, position)
            return
        start = position if full else cursor  # a full read by SOQL resumes after its last page
        query = soql.select(spec.select_fields(), spec.name, spec.condition, soql.after(start, spec.stamp),
                            order=f"{spec.stamp}, Id")  # fmt: skip
        for records, done in self._query(query):
            if not records:
                continue
            last = soql.cursor_of(records[-1], spec.stamp)
            yield from self._pages_of(spec, records, last, None if done or not full else last, start if full else None)
            start = last

    def _query(self, query: str) -> Iterator[tuple[list[dict], bool]]:
        """Each batch of a SOQL query on queryAll (deleted rows included), following nextRecordsUrl."""
        headers = {"Sforce-Query-Options": f"batchSize={self.page_size}"}
        answer = call(self.http, "GET", f"{DATA}/queryAll", params={"q": query}, headers=headers).json()
        while True:
            done = answer.get("done", True) or not answer.get("nextRecordsUrl")
            yield [flat(r) for r in answer.get("records", [])], done
            if done:
                return
            answer = call(self.http, "GET", answer["nextRecordsUrl"], headers=headers).json()

    def _bulk_pages(self, spec: Spec, position: str | None) -> Iterator[Page]:
        place = bulk.Place.parse(position)
        if place is not None:
            try:
                bulk.wait(self.http, place.job, self.sleep)
            except CrmError as exc:
                if exc.status != 404:
                    raise
                place = None  # the job is gone (Salesforce keeps them 7 days): start the full read again
        if place is None:
            place = bulk.Place(bulk.start(self.http, soql.select(spec.select_fields(), spec.name, spec.condition)))
            bulk.wait(self.http, place.job, self.sleep)
        for records, following in bulk.sets(self.http, place, self.bulk_set_size):
            before = place.text()
            highest = _highest([place.highest, *(soql.cursor_of(r, spec.stamp) for r in records)])
            place = bulk.Place(place.job, following, highest)
            last = following is None
            # The cursor moves only at the end: a job's rows come in no particular order.
            yield from self._pages_of(spec, records, highest if last else None, None if last else place.text(), before)

    def _pages_of(self, spec: Spec, records, cursor, position, before) -> list[Page]:
        if spec.name == "Lead":
            return self._lead_pages(records, cursor, position, before)
        return [self._page(spec, records, cursor, position)]

    def _page(self, spec: Spec, records: list[dict], cursor, position) -> Page:
        page = Page(cursor=cursor, position=position)
        rows = []
        for record in records:
            if self._removed(spec, record, page):
                continue
            page.seen.append(self._row_id(spec, record["Id"]))
            row = getattr(self.rows, spec.name)(record)
            if row is not None:
                rows.append(row)
        if rows:
            page.rows[spec.table] = rows
        return page

    def _removed(self, spec: Spec, record: dict, page: Page) -> bool:
        """A deleted record (queryAll's IsDeleted) goes to `deleted`, a merged-away one to `merged`."""
        if not (spec.deletable and yes(record.get("IsDeleted"))):
            return False
        master = record.get("MasterRecordId")
        if spec.mergeable and master:
            page.merged.append((record["Id"], master))
        else:
            page.deleted.append(self._row_id(spec, record["Id"]))
        return True

    @staticmethod
    def _row_id(spec: Spec, record_id: str) -> str:
        return touch_id(record_id) if spec.id_prefix.startswith("salesforce-") else record_id

    def _lead_pages(self, records: list[dict], cursor, position, before) -> list[Page]:
        last = Page(cursor=cursor, position=position)
        live = [r for r in records if not self._removed(BY_NAME["Lead"], r, last)]
        history = self._lead_history([r["Id"] for r in live])
        first = Page(cursor=None, position=before)
        people, moves, statuses = [], [], []
        for lead in live:
            last.seen.append(lead["Id"])
            changes = history.get(lead["Id"], [])
            if yes(lead.get("IsConverted")) and lead.get("ConvertedContactId"):
                person = lead["ConvertedContactId"]
                people.append(self.rows.converted(lead))
                first.merged.append((lead["Id"], person))
                if not changes and lead.get("ConvertedDate"):
                    moves.append(self.rows.conversion_move(lead))
            else:
                person = lead["Id"]
                people.append(self.rows.Lead(lead, with_status=not changes))
                if changes:
                    statuses.append(self.rows.status_only(lead))
            moves += [self.rows.lead_move(change, person) for change in changes]
        first.rows = {table: rows for table, rows in (("contacts", people), ("stage_changes", moves)) if rows}
        if statuses:
            last.rows = {"contacts": statuses}
            return [first, last]
        first.cursor, first.position = last.cursor, last.position
        first.seen, first.deleted, first.merged = last.seen, last.deleted, first.merged + last.merged
        return [first]

    def _lead_history(self, lead_ids: list[str]) -> dict[str, list[dict]]:
        found: dict[str, list[dict]] = {}
        for start in range(0, len(lead_ids), ID_CHUNK):
            query = soql.select(LEAD_HISTORY, "LeadHistory", "Field = 'Status'",
                                soql.ids_in("LeadId", lead_ids[start : start + ID_CHUNK]), order="CreatedDate, Id")  # fmt: skip
            for records, _ in self._query(query):
                for record in records:
                    found.setdefault(record["LeadId"], []).append(record)
        return found

    def fetch(self, obj: CrmObject, crm_ids: list[str]) -> Page:
        """These records now; ids that no longer resolve are reported deleted. Lead rejects named by
        a history row or a conversion move bring their lead back."""
        spec = BY_NAME[obj.name]
        ids = sorted({crm_id(i).removesuffix("-converted") for i in crm_ids})
        if spec.name == "Lead":
            ids = self._leads_of(ids)
        records = []
        for start in range(0, len(ids), ID_CHUNK):
            query = soql.select(
                spec.select_fields(), spec.name, spec.condition, soql.ids_in("Id", ids[start : start + ID_CHUNK])
            )
            for batch, _ in self._query(query):
                records += batch
        pages = self._pages_of(spec, records, None, None, None)
        page = pages[0]
        for extra in pages[1:]:  # a lead's status text waits for the next sync (see the module's note)
            page.seen += extra.seen
            page.deleted += extra.deleted
            page.merged += extra.merged
        returned = {r["Id"] for r in records}
        if spec.deletable:
            page.deleted += [self._row_id(spec, i) for i in ids if i not in returned]
        return page

    def _leads_of(self, ids: list[str]) -> list[str]:
        history = [i for i in ids if i.startswith("017")]
        leads = {i for i in ids if not i.startswith("017")}
        for start in range(0, len(history), ID_CHUNK):
            query = soql.select(("Id", "LeadId"), "LeadHistory", soql.ids_in("Id", history[start : start + ID_CHUNK]))
            for batch, _ in self._query(query):
                leads |= {r["LeadId"] for r in batch if r.get("LeadId")}
        return sorted(leads)

    # -- writing ------------------------------------------------------------------------------

    def write_back(
        self, object_name: str, crm_id: str, fields: dict[str, str | None], read_at, context: dict | None = None
    ) -> WriteResult:
        return write(self.http, self.translator, object_name, crm_id, fields, read_at, context)


def _highest(cursors: list[str | None]) -> str | None:
    known = [c for c in cursors if c]
    if not known:
        return None

    def order(cursor: str):
        moment, _, record_id = cursor.partition("|")
        return soql.stamp(moment), record_id

    return max(known, key=order)
