"""The HubSpot connector: CRM v3 records as pages of rows, oldest change first, and write-back.

Incremental reads go through the search endpoints, sorted ascending on the last-modified time
and filtered after the cursor. One search query returns at most 10,000 results, and HubSpot
sorts on one property only, so records sharing one modified time come in no promised order.
Hence the cursor `"<time>|<id>"` and two kinds of query:

- a *window*: records modified after <time>. A page's last moment may go on in the next page,
  so its records are held back and written with the next page; the cursor only ever says "all
  of <time> is in" (`"<time>|"`). When the window reaches 10,000 it restarts after its last
  whole moment.
- a *moment*: records modified exactly at <time>, in id order, after <id>. Used when one moment
  fills a whole page (a bulk import stamps thousands of records alike): the cursor then says
  "<time> is in up to <id>", and the moment can run past 10,000 without loss.

A full sync lists everything (`GET /crm/v3/objects/{object}`, no cap) and keeps its `after` as
the page's position, so an interrupted one resumes. Deleted records come from the archived
listing, merges from the survivor's `hs_merged_object_ids`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, Sequence
from typing import cast

from sqlalchemy import Engine, select

from truce.config import TruceConfig
from truce.services.connectors.errors import CredentialRevoked
from truce.services.connectors.http import CrmHttp
from truce.services.connectors.hubspot import history, objects
from truce.services.connectors.hubspot.api import SEARCH_CAP, HubSpotApi, rules
from truce.services.connectors.hubspot.objects import SPECS, Spec, moment
from truce.services.connectors.hubspot.write_back import WriteBackProblem, hubspot_values, newer_change
from truce.services.connectors.protocol import CrmObject, Page, WriteResult
from truce.store.models import Contact, Touchpoint, User

# Deletions are looked for this far before the cursor: a second look at one changes nothing.
DELETION_MARGIN_MS = 3_600_000
# A full sync's cursor: when its listing began, less this, so a record changed while it listed is read again.
FULL_SYNC_MARGIN = dt.timedelta(minutes=10)
CONTACT_TO_PRIMARY_COMPANY = frozenset({1})  # HubSpot-defined association type "Primary"
DEAL_TO_PRIMARY_COMPANY = frozenset({5})


def mark(ms: int, after_id: str = "") -> str:
    return f"{objects.iso(ms)}|{after_id}"


def read_mark(cursor: str | None) -> tuple[int | None, str]:
    if not cursor:
        return None, ""
    moment_text, _, after_id = cursor.partition("|")
    return objects.to_ms(moment_text), after_id


def _next(body: dict) -> str | None:
    return ((body.get("paging") or {}).get("next") or {}).get("after")


class HubSpotConnector:
    system = "hubspot"

    def __init__(
        self,
        connection,
        config: TruceConfig,
        engine: Engine,
        *,
        http: CrmHttp | None = None,
        sleep: Callable[[float], None] | None = None,
        search_per_second: float | None = 4,
        search_cap: int = SEARCH_CAP,
        now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ):
        settings = config.connectors.hubspot
        self.connection, self.config, self.engine = connection, config, engine
        self.http = http or CrmHttp(
            connection.base_url, rules(search_per_second), token=lambda fresh: self._token(),
            max_attempts=settings.max_attempts, sleep=sleep or time.sleep,
        )  # fmt: skip
        self.api = HubSpotApi(self.http, settings.page_size)
        self.search_cap, self.now = search_cap, now
        self._stages: dict | None = None
        self._known_teams: dict[str, str] = {}  # owners' emails → the team truce gives them now

    def _token(self) -> str:
        token = self.connection.secret()
        if not token:
            raise CredentialRevoked(
                f"HubSpot: connection {self.connection.name!r} has no token; run `truce connect hubspot` again"
            )
        return token

    def close(self) -> None:
        self.api.close()

    def objects(self) -> list[CrmObject]:
        return [spec.obj for spec in SPECS.values()]

    # -- reading ------------------------------------------------------------------------------

    def pages(self, obj: CrmObject, cursor: str | None, position: str | None, full: bool) -> Iterator[Page]:
        spec = SPECS[obj.name]
        if obj.name == "owners":
            yield from self._owners()
        elif full:
            yield from self._everything(spec, position)
        else:
            yield from self._changed(spec, cursor)
            if cursor is not None:  # a first sync has nothing in truce to delete
                removed = self._removed(spec, read_mark(cursor)[0])
                if removed.deleted:
                    yield removed

    def _changed(self, spec: Spec, cursor: str | None) -> Iterator[Page]:
        since, after_id = read_mark(cursor)
        while True:
            if since is not None and after_id:
                yield from self._moment(spec, since, after_id)
            restart = yield from self._window(spec, since)
            if restart is None:
                return
            since, after_id = restart

    def _window(self, spec: Spec, since: int | None):
        """Records modified after `since`, pages of whole moments. Returns where to restart, or None."""
        groups = (
            []
            if since is None
            else [{"filters": [{"propertyName": spec.modified, "operator": "GT", "value": str(since)}]}]
        )
        held: list[dict] = []
        after = None
        while True:
            body = self.api.search(spec.obj.name, groups, spec.modified, spec.properties, after)
            pool, after = held + (body.get("results") or []), _next(body)
            if after is None:  # the query ran out: its last moment is whole too
                if pool:
                    yield self._page(spec, pool, mark(moment(pool[-1], spec)))
                return None
            last = moment(pool[-1], spec)
            whole = [r for r in pool if moment(r, spec) < last]
            held = [r for r in pool if moment(r, spec) == last]
            if whole:
                yield self._page(spec, whole, mark(moment(whole[-1], spec)))
            if not whole:
                return last, "0"  # one moment fills the page: read it in id order
            if int(after) >= self.search_cap:
                return moment(whole[-1], spec), ""  # the 10,000 cap: a new window after the last whole moment

    def _moment(self, spec: Spec, at: int, after_id: str) -> Iterator[Page]:
        """Records modified exactly at `at`, in id order after `after_id`, past the cap if need be."""
        while True:
            groups = [{"filters": [
                {"propertyName": spec.modified, "operator": "EQ", "value": str(at)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": after_id},
            ]}]  # fmt: skip
            after = None
            while True:
                body = self.api.search(spec.obj.name, groups, "hs_object_id", spec.properties, after)
                results = body.get("results") or []
                if results:
                    after_id = str(results[-1]["id"])
                    yield self._page(spec, results, mark(at, after_id))
                after = _next(body)
                if after is None:
                    return
                if int(after) >= self.search_cap:
                    break  # re-window the moment after the last id read

    def _everything(self, spec: Spec, position: str | None) -> Iterator[Page]:
        started = self.now() - FULL_SYNC_MARGIN if position is None else None
        after = position
        # Engagements list their contacts inline (`associations=contacts`): one call per page, not two.
        inline = ("contacts",) if spec.touch else ()
        while True:
            body = self.api.listing(spec.obj.name, spec.properties, after, associations=inline)
            after = _next(body)
            page = self._page(spec, body.get("results") or [], None)
            page.position = after
            if after is None and started is not None:
                page.cursor = mark(int(started.timestamp() * 1000))
            yield page
            if after is None:
                return

    def _removed(self, spec: Spec, since: int | None) -> Page:
        """Records archived (deleted) in HubSpot since the cursor, from the archived listing."""
        floor = (since or 0) - DELETION_MARGIN_MS
        gone, after = [], None
        while True:
            body = self.api.listing(spec.obj.name, (), after, archived=True)
            gone += [str(r["id"]) for r in body.get("results") or [] if objects.to_ms(r.get("archivedAt") or 0) > floor]
            after = _next(body)
            if after is None:
                break
        return Page(deleted=self._touch_ids(spec, gone) if spec.touch else gone)

    def _owners(self) -> Iterator[Page]:
        listed: list[dict] = []
        for archived in (False, True):
            after = None
            while True:
                body = self.api.owners(after, archived)
                listed += body.get("results") or []
                after = _next(body)
                if after is None:
                    break
        yield Page(rows={"users": [objects.owner_row(o, self._team(o)) for o in self._with_teams(listed)]})

    def _with_teams(self, owners: list[dict]) -> list[dict]:
        emails = [o["email"].strip().lower() for o in owners if o.get("email")]
        with self.engine.connect() as conn:
            self._known_teams = (
                dict(conn.execute(select(User.email, User.team).where(User.email.in_(emails))).all()) if emails else {}
            )
        return owners

    def _team(self, owner: dict) -> str:
        """From [connectors.hubspot] teams by email, else the team truce already gives them, else the default."""
        settings = self.config.connectors.hubspot
        email = (owner.get("email") or "").strip().lower()
        teams = {k.strip().lower(): v for k, v in settings.teams.items()}
        return teams.get(email) or self._known_teams.get(email) or settings.default_team

    # -- one page of records as rows -----------------------------------------------------------

    def _page(self, spec: Spec, records: list[dict], cursor: str | None) -> Page:
        build = {
            "companies": self._companies, "contacts": self._contacts, "deals": self._deals,
        }.get(spec.obj.name, self._touches)  # fmt: skip
        page = build(spec, records)
        page.cursor = cursor
        page.merged = [(loser, str(r["id"])) for r in records for loser in objects.merged_ids(r)]
        return page

    def _companies(self, spec: Spec, records: list[dict]) -> Page:
        rows = [objects.company_row(r) for r in records]
        return Page(rows={"accounts": rows}, seen=[row["external_id"] for row in rows])

    def _contacts(self, spec: Spec, records: list[dict]) -> Page:
        ids = [str(r["id"]) for r in records]
        companies = self.api.associations("contacts", "companies", ids)
        dated = history.of_records(self.api.batch_read("contacts", ids, with_history=["lifecyclestage"])) if ids else {}
        rows = [
            objects.contact_row(r, objects.primary(companies.get(str(r["id"]), []), CONTACT_TO_PRIMARY_COMPANY),
                                dated.get(str(r["id"]), {}))
            for r in records
        ]  # fmt: skip
        return Page(rows={"contacts": rows}, seen=ids)

    def _deals(self, spec: Spec, records: list[dict]) -> Page:
        ids = [str(r["id"]) for r in records]
        companies = self.api.associations("deals", "companies", ids)
        people = self.api.associations("deals", "contacts", ids)
        firsts = {i: objects.primary(people.get(i, [])) for i in ids}
        emails = self._contact_emails([c for c in firsts.values() if c])
        rows = [
            objects.deal_row(r, self._deal_stages(), objects.primary(companies.get(str(r["id"]), []), DEAL_TO_PRIMARY_COMPANY),
                             emails.get(firsts[str(r["id"])] or ""))
            for r in records
        ]  # fmt: skip
        return Page(rows={"opportunities": rows}, seen=ids)

    def _touches(self, spec: Spec, records: list[dict]) -> Page:
        people = objects.inline_associations(records, "contacts")
        if people is None:  # a search or a batch read: associations are asked for separately
            people = self.api.associations(spec.obj.name, "contacts", [str(r["id"]) for r in records])
        rows = []
        for record in records:
            contact_ids = [str(to["toObjectId"]) for to in people.get(str(record["id"]), [])]
            rows += objects.touch_rows(spec, record, contact_ids)
        return Page(rows={"touchpoints": rows}, seen=[row["external_id"] for row in rows])

    def _deal_stages(self) -> dict:
        if self._stages is None:
            self._stages = objects.deal_stages(self.api.pipelines("deals"))
        return self._stages

    def _contact_emails(self, crm_ids: list[str]) -> dict[str, str]:
        if not crm_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(select(Contact.hubspot_id, Contact.email).where(Contact.hubspot_id.in_(crm_ids))).all()
            return dict(cast(Sequence[tuple[str, str]], rows))  # in_() leaves out a NULL id

    def _touch_ids(self, spec: Spec, engagement_ids: list[str]) -> list[str]:
        """The touches truce made of these engagements (one per contact)."""
        found: list[str] = []
        with self.engine.connect() as conn:
            for engagement in engagement_ids:
                prefix = f"{objects.touch_prefix(spec)}{engagement}-"
                query = select(Touchpoint.external_id).where(Touchpoint.external_id.startswith(prefix, autoescape=True))
                found += cast(Sequence[str], conn.execute(query).scalars().all())  # startswith() leaves out a NULL id
        return found

    # -- single records ------------------------------------------------------------------------

    def fetch(self, obj: CrmObject, crm_ids: list[str]) -> Page:
        """The records as they are now. A touch's id names its engagement; ids that no longer resolve
        are merged (when a returned survivor lists them) or deleted."""
        spec = SPECS[obj.name]
        if obj.name == "owners":
            page = next(self._owners())
            page.rows["users"] = [row for row in page.rows["users"] if row["external_id"] in set(crm_ids)]
            return page
        wanted = list(dict.fromkeys(objects.engagement_of(spec, i) for i in crm_ids))
        records = (self.api.batch_read(obj.name, wanted, spec.properties).get("results") or []) if wanted else []
        page = self._page(spec, records, None)
        found = {str(r["id"]) for r in records}
        merged = {loser for loser, _ in page.merged}
        gone = [i for i in wanted if i not in found and i not in merged]
        page.deleted = self._touch_ids(spec, gone) if spec.touch else gone
        page.seen = page.seen or wanted
        return page

    # -- write-back ----------------------------------------------------------------------------

    def write_back(
        self,
        object_name: str,
        crm_id: str,
        fields: dict[str, str | None],
        read_at: dt.datetime | None,
        context: dict | None = None,
    ) -> WriteResult:
        """Write truce's decision on one HubSpot record, unless HubSpot changed it after `read_at`.

        `fields` are truce's names and values, not HubSpot's: handoff_status (open, accepted, rejected,
        expired → hs_lead_status OPEN, IN_PROGRESS, UNQUALIFIED, BAD_TIMING), rejection_reason (the
        reason code), lifecycle_stage (a truce stage → HubSpot's value via [mapping.hubspot.lifecycle_stage]),
        owner (a truce user's email → their HubSpot owner id), mql_score, score_link, sla_breach
        (true/false). Property names follow `[connectors.hubspot.write_back] fields`. None clears a
        property. `read_at` should be the later of truce's last read and its own last write of the
        record; None writes without the check.

        HubSpot has no conditional update, so the properties' history is read first: a value set
        after `read_at` to something else is a conflict (nothing written). A value truce cannot
        translate, or a record that is gone, is skipped with the reason.
        """
        try:
            properties = hubspot_values(self.config, self.engine, fields, owner_lookup=self.api.owner_by_email)
        except WriteBackProblem as exc:
            return WriteResult("skipped", str(exc))
        if not properties:
            return WriteResult("skipped", "nothing to write")
        current = self.api.read_one(object_name, crm_id, sorted(properties))
        if current is None:
            return WriteResult("skipped", f"HubSpot {object_name} {crm_id} no longer exists")
        record = current.json()
        modified = _when(record.get("updatedAt"))
        if read_at is not None:
            read_at = read_at if read_at.tzinfo else read_at.replace(tzinfo=dt.UTC)
            reason = newer_change(record, properties, read_at)
            if reason:
                return WriteResult("conflict", reason, modified)
        answer = self.api.update(object_name, crm_id, properties)
        return WriteResult(
            "sent", ", ".join(f"{k}={v}" for k, v in properties.items()), _when(answer.get("updatedAt")) or modified
        )


def _when(value) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(objects.to_ms(value) / 1000, dt.UTC) if value else None
