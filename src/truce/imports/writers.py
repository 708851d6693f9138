"""One writer per table: what a row means for that table, which references it needs, what it writes."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Connection, bindparam, select, update

from truce.imports import lookups
from truce.imports.dialects import ID_COLUMN
from truce.imports.fields import MAPPED_STAGE_FIELDS, Reading
from truce.imports.service import ImportReport, Parsed, RowError
from truce.imports.upsert import Matcher, append_rows, audit_updates, changes, insert_rows, update_rows
from truce.imports.values import BadValue
from truce.store.models import Account, Campaign, Contact, Opportunity, StageChange, Touchpoint
from truce.store.types import to_money

LEDGER = StageChange.__table__


class Writer:
    """Shared steps: copy plain fields, catch in-file duplicates, match, insert or update."""

    model = None
    entity = ""
    natural_key: str | None = None
    copies: dict[str, str] = {}  # truce field → store column, copied as read

    def __init__(
        self, conn: Connection, reading: Reading, dialect: str, report: ImportReport, now: dt.datetime, actor: str
    ):
        self.conn, self.reading, self.dialect = conn, reading, dialect
        self.config = reading.config
        self.report, self.now, self.actor = report, now, actor
        self.table = self.model.__table__
        wanted = ID_COLUMN[dialect]
        self.id_column = wanted if wanted in self.table.c else "external_id"
        self.matcher = Matcher(conn, self.table, self.id_column, self.natural_key)
        self.people = lookups.People(conn)
        self._seen: dict[tuple[str, object], int] = {}

    # -- checking -----------------------------------------------------------------------------

    def check(self, records: list[Parsed]) -> tuple[list[Parsed], list[tuple[Parsed, list[RowError]]]]:
        """Fill each record's store columns; return the good records and the bad with their errors."""
        self.load(records)
        passed, bad = [], []
        for record in records:
            record.store = {col: record.values[f] for f, col in self.copies.items() if f in record.values}
            if "external_id" in record.values:
                record.store[self.id_column] = record.values["external_id"]
            errors = self._duplicates(record)
            if not errors:
                errors = self.resolve(record)
            if errors:
                bad.append((record, errors))
            else:
                passed.append(record)
        good = []
        for record, match in zip(passed, self.matcher.existing(passed), strict=True):
            if isinstance(match, tuple):
                key = self.natural_key
                bad.append(
                    (
                        record,
                        [
                            record.error(
                                key,
                                "duplicate",
                                f"{key} {record.store[key]!r} belongs to another {self.entity} (id {match[1]['id']})",
                            )
                        ],
                    )
                )
            elif match is not None and (problem := self.conflict(record, match)):
                bad.append((record, [problem]))
            else:
                record.match = match
                good.append(record)
        return good, bad

    def conflict(self, record: Parsed, match) -> RowError | None:
        """A reason this row may not update the record it matched, if any."""
        return None

    def load(self, records: list[Parsed]) -> None:
        """Fetch, a batch at a time, the records this batch refers to."""

    def resolve(self, record: Parsed) -> list[RowError]:
        """Table-specific checks and references; fills record.store."""
        return []

    def _duplicates(self, record: Parsed) -> list[RowError]:
        keys = [(self.id_column, "external_id")]
        if self.natural_key:
            keys.append((self.natural_key, self.natural_key))
        found = []
        for column, field_name in keys:
            value = record.store.get(column)
            if value is None:
                continue
            earlier = self._seen.get((column, value))
            if earlier is not None:
                found.append(record.error(field_name, "duplicate", f"same {field_name} as line {earlier}: {value!r}"))
        if not found:
            for column, _ in keys:
                if record.store.get(column) is not None:
                    self._seen[(column, record.store[column])] = record.line
        return found

    def owner(self, record: Parsed, field_name: str = "owner_email", column: str = "owner_id") -> None:
        reference = record.values.get(field_name)
        if reference is None:
            return
        person = self.people.find(reference)
        if person is None:
            self.report.warnings[
                f"unknown user {reference!r} in column {record.headers[field_name]!r}: left empty"
            ] += 1
        else:
            record.store[column] = person[0]

    # -- writing ------------------------------------------------------------------------------

    def defaults(self, record: Parsed) -> dict:
        """Values a new record gets when the file does not say."""
        row = dict(record.store)
        for column in ("created_at", "updated_at"):
            if column in self.table.c:
                row.setdefault(column, self.now)
        return row

    def write(self, records: list[Parsed]) -> None:
        new = [r for r in records if r.match is None]
        ids = insert_rows(self.conn, self.table, [self.defaults(r) for r in new], self._columns())
        for record, new_id in zip(new, ids, strict=True):
            record.store["id"] = new_id
        self.after_insert(new)
        updated = []
        for record in records:
            if record.match is None:
                continue
            record.store["id"] = record.match["id"]
            changed = changes(record.match, record.store, frozenset({"id"}))
            if changed:
                updated.append((record.match["id"], record.match, changed))
            else:
                self.report.unchanged += 1
        update_rows(self.conn, self.table, [(i, c) for i, _, c in updated], self.now)
        audit_updates(self.conn, self.entity, updated, self.actor, self.now)
        self.after_update(records, updated)
        self.report.inserted += len(new)
        self.report.updated += len(updated)

    def _columns(self) -> list[str]:
        return [c.name for c in self.table.c if c.name != "id"]

    def after_insert(self, records: list[Parsed]) -> None:
        pass

    def after_update(self, records: list[Parsed], updated: list) -> None:
        pass

    def ledger_row(self, entity_id: int, before: str | None, after: str, at: dt.datetime, **extra) -> dict:
        funnel = self.config.funnel
        return {
            "entity_type": "contact",
            "entity_id": entity_id,
            "from_stage": before,
            "to_stage": after,
            "changed_at": at,
            "team_before": funnel.team_of(before) if before else None,
            "team_after": funnel.team_of(after),
            "origin": "import",
            "recorded_at": self.now,
            **extra,
        }


class AccountWriter(Writer):
    model = Account
    entity = "account"
    natural_key = "domain"
    copies = {
        f: f for f in ("name", "domain", "industry", "employees", "region", "segment", "is_key_account", "created_at")
    }

    def resolve(self, record: Parsed) -> list[RowError]:
        self.owner(record)
        return []


class ContactWriter(Writer):
    """Contacts, and the stage moves an export can date (HubSpot's "Became a … Date")."""

    model = Contact
    entity = "contact"
    natural_key = "email"
    copies = {
        f: f
        for f in ("email", "first_name", "last_name", "title", "phone", "source_channel", "lead_status", "created_at")
    }

    def __init__(self, *args):
        super().__init__(*args)
        self.accounts = lookups.account_caches(self.conn, self.id_column)
        self._new_companies: dict[str, str] = {}  # casefolded name → name as first written

    def load(self, records):
        for field_name, cache in self.accounts.items():
            cache.load(r.values.get(field_name) for r in records)

    def resolve(self, record):
        errors = self._account(record) + self._stage(record)
        self.owner(record)
        return errors

    def _account(self, record) -> list[RowError]:
        for field_name, column in (("account_external_id", self.id_column), ("account_domain", "domain")):
            reference = record.values.get(field_name)
            if reference is None:
                continue
            found = self.accounts[field_name].get(reference)
            if found is None:
                return [
                    record.error(
                        field_name, "not_found", f"no account with {column} {reference!r}; import accounts first"
                    )
                ]
            record.store["account_id"] = found
            return []
        company = record.values.get("company")
        if company is not None:
            found = self.accounts["company"].get(company)
            if found is None:
                record.new_company = company  # created on write: a lead's company is free text
                if company.casefold() not in self._new_companies:
                    self._new_companies[company.casefold()] = company
                    self.report.accounts_created += 1
            else:
                record.store["account_id"] = found
        return []

    def _stage(self, record) -> list[RowError]:
        if "stage" in record.values:
            try:
                record.store["stage"] = self.reading.stage(record.values["stage"])
            except BadValue as exc:
                return [record.error("stage", "validation", str(exc))]
        elif self.dialect in MAPPED_STAGE_FIELDS:
            field_name, mapping = MAPPED_STAGE_FIELDS[self.dialect]
            value = record.values.get(field_name)
            if value is not None:
                stage = self.config.stage_for(self.dialect, mapping, value)
                if stage is None:
                    return [
                        record.error(
                            field_name,
                            "validation",
                            f"unknown stage {value!r}: add it to [mapping.{self.dialect}.{mapping}] in truce.toml",
                        )
                    ]
                record.store["stage"] = stage
        record.history = self._dated_history(record)
        return []

    def _dated_history(self, record) -> list[tuple[str, dt.datetime]]:
        """HubSpot's per-stage dates as ordered (stage, when) moves, earliest date per stage."""
        first: dict[str, dt.datetime] = {}
        for name, when in record.became:
            stage = self.config.stage_for("hubspot", "lifecycle_stage", name)
            if stage is None:
                self.report.warnings[
                    f"'Became a {name} Date' names no stage in [mapping.hubspot.lifecycle_stage]: ignored"
                ] += 1
            elif stage not in first or when < first[stage]:
                first[stage] = when
        return sorted(first.items(), key=lambda item: item[1])

    def defaults(self, record):
        row = super().defaults(record)
        history = record.history
        row.setdefault("stage", history[-1][0] if history else self.config.funnel.stages[0].key)
        return row

    def write(self, records):
        self._create_companies(records)
        super().write(records)

    def _create_companies(self, records) -> None:
        wanted = {}
        for record in records:
            name = record.new_company
            if name is not None and self.accounts["company"].get(name) is None:
                wanted.setdefault(name.casefold(), name)
        names = list(wanted.values())
        rows = [{"name": n, "created_at": self.now, "updated_at": self.now} for n in names]
        columns = ["name", "created_at", "updated_at"]
        for name, new_id in zip(names, insert_rows(self.conn, Account.__table__, rows, columns), strict=True):
            self.accounts["company"].add(name, new_id)
        for record in records:
            name = record.new_company
            if name is not None:
                record.store["account_id"] = self.accounts["company"].get(name)

    def after_insert(self, records):
        rows = []
        for record in records:
            rows += self._history_rows(record, None)
            current = record.store.get("stage") or self.config.funnel.stages[0].key
            last = rows[-1]["to_stage"] if rows and rows[-1]["entity_id"] == record.store["id"] else None
            if last != current:
                # No dated history for this stage: the import is when truce learnt it.
                created = record.store.get("created_at")
                at = created if (created and current == self.config.funnel.stages[0].key and last is None) else self.now
                rows.append(self.ledger_row(record.store["id"], last, current, at, note="stage as of import"))
        append_rows(self.conn, LEDGER, rows)
        self.report.stage_changes_recorded += len(rows)

    def _history_rows(self, record, after: dt.datetime | None) -> list[dict]:
        key = record.store.get(self.id_column) or record.store["email"]
        rows, before = [], None
        for stage, when in record.history:
            if after is None or when > after:
                rows.append(
                    self.ledger_row(
                        record.store["id"], before, stage, when, external_id=f"hubspot:{key}:{stage}:{when.isoformat()}"
                    )
                )
            before = stage
        return rows

    def after_update(self, records, updated):
        moved = {
            record_id: (before["stage"], changed["stage"])
            for record_id, before, changed in updated
            if "stage" in changed
        }
        rows = [
            self.ledger_row(i, old, new, self.now, note="stage changed by import") for i, (old, new) in moved.items()
        ]
        rows += self._new_dated_moves(records)
        append_rows(self.conn, LEDGER, rows)
        self.report.stage_changes_recorded += len(rows)

    def _new_dated_moves(self, records) -> list[dict]:
        """Dated moves an updated export adds; ones already in the ledger are left alone."""
        candidates = [row for r in records if r.match is not None for row in self._history_rows(r, None)]
        known = lookups.fetch_by(
            self.conn, LEDGER, "external_id", [row["external_id"] for row in candidates], [LEDGER.c.external_id]
        )
        return [row for row in candidates if row["external_id"] not in known]


class CampaignWriter(Writer):
    model = Campaign
    entity = "campaign"
    copies = {f: f for f in ("name", "channel", "owning_team", "budget", "actual_cost", "starts_on", "ends_on")}

    def resolve(self, record):
        self.owner(record)
        starts, ends = record.store.get("starts_on"), record.store.get("ends_on")
        if starts and ends and ends < starts:
            return [record.error("ends_on", "validation", f"ends {ends} before it starts {starts}")]
        return []


class TouchpointWriter(Writer):
    model = Touchpoint
    entity = "touchpoint"
    copies = {f: f for f in ("channel", "kind", "touch_type", "occurred_at")}

    def __init__(self, *args):
        super().__init__(*args)
        self.contacts = lookups.contact_caches(self.conn, self._contact_id_column())
        self.campaigns = lookups.campaign_caches(self.conn, self.id_column)

    def _contact_id_column(self) -> str:
        return ID_COLUMN[self.dialect]

    def load(self, records):
        for field_name, cache in {**self.contacts, **self.campaigns}.items():
            cache.load(r.values.get(field_name) for r in records)
        self._contact_accounts = (
            dict(
                self.conn.execute(
                    select(Contact.id, Contact.account_id).where(
                        Contact.id.in_({i for r in records for i in [self._contact(r)] if i})
                    )
                ).all()
            )
            if records
            else {}
        )

    def _contact(self, record) -> int | None:
        for field_name, cache in self.contacts.items():
            if field_name in record.values:
                return cache.get(record.values[field_name])
        return None

    def resolve(self, record):
        errors = []
        contact_id = self._contact(record)
        if contact_id is None:
            name = "contact_email" if "contact_email" in record.values else "contact_external_id"
            errors.append(record.error(name, "not_found", f"no contact {record.values[name]!r}; import contacts first"))
        record.store["contact_id"] = contact_id
        record.store["account_id"] = self._contact_accounts.get(contact_id)
        record.store.setdefault("occurred_at", record.values.get("occurred_at_fallback"))
        if "campaign_external_id" in record.values:
            campaign = self.campaigns["campaign_external_id"].get(record.values["campaign_external_id"])
            if campaign is None:
                errors.append(
                    record.error(
                        "campaign_external_id",
                        "not_found",
                        f"no campaign {record.values['campaign_external_id']!r}; import campaigns first",
                    )
                )
            record.store["campaign_id"] = campaign
        self.owner(record, "user_email", "user_id")
        record.store.setdefault("touch_type", "campaign_response")
        if "touch_type" in record.store:
            record.store["touch_type"] = record.store["touch_type"].strip().lower().replace(" ", "_")
        return errors

    def defaults(self, record):
        row = super().defaults(record)
        if row.get("channel") is None and row.get("campaign_id") is not None:
            row["channel"] = self.conn.execute(
                select(Campaign.channel).where(Campaign.id == row["campaign_id"])
            ).scalar_one()
        if row.get("kind") is None:
            user = row.get("user_id")
            row["kind"] = "sales" if user and self.people.team_of(user) == "sales" else "marketing"
        return row


class OpportunityWriter(Writer):
    model = Opportunity
    entity = "opportunity"
    copies = {
        f: f
        for f in (
            "name",
            "amount",
            "list_amount",
            "discount_rate",
            "currency",
            "stage",
            "status",
            "created_at",
            "close_date",
            "loss_reason",
            "competitor",
            "product",
        )
    }

    def __init__(self, *args):
        super().__init__(*args)
        self.accounts = lookups.account_caches(self.conn, self.id_column)
        self.contacts = lookups.contact_caches(self.conn, self.id_column)
        self.campaigns = lookups.campaign_caches(self.conn, self.id_column)

    def load(self, records):
        for field_name, cache in {
            **self.accounts,
            **self.campaigns,
            "primary_contact_email": self.contacts["contact_email"],
        }.items():
            cache.load(r.values.get(field_name) for r in records)

    def resolve(self, record):
        errors = []
        refs = [
            ("account_external_id", self.accounts["account_external_id"], "account_id", "account"),
            ("account_domain", self.accounts["account_domain"], "account_id", "account"),
            ("company", self.accounts["company"], "account_id", "account"),
            ("primary_contact_email", self.contacts["contact_email"], "primary_contact_id", "contact"),
            ("campaign_external_id", self.campaigns["campaign_external_id"], "campaign_id", "campaign"),
            ("campaign_name", self.campaigns["campaign_name"], "campaign_id", "campaign"),
        ]
        for field_name, cache, column, what in refs:
            if field_name in record.values and column not in record.store:
                found = cache.get(record.values[field_name])
                if found is None:
                    errors.append(
                        record.error(
                            field_name, "not_found", f"no {what} {record.values[field_name]!r}; import {what}s first"
                        )
                    )
                record.store[column] = found
        self.owner(record)
        return errors + self._price(record)

    def _price(self, record) -> list[RowError]:
        store = record.store
        amount, listed = store.get("amount"), store.get("list_amount")
        if amount is not None and amount < 0:
            return [record.error("amount", "validation", f"negative amount {amount}")]
        if listed is not None and amount is not None and store.get("discount_rate") is None and listed > 0:
            store["discount_rate"] = (1 - amount / listed).quantize(Decimal("0.0001"))
        if listed is None and amount is not None and store.get("discount_rate") is not None:
            rate = store["discount_rate"]
            store["list_amount"] = to_money(amount / (1 - rate)) if rate < 1 else None
        if "status" not in store and store.get("stage"):
            store["status"] = self.config.deal_status(store["stage"])
        store.setdefault("stage", store.get("status"))
        return []

    def defaults(self, record):
        row = super().defaults(record)
        row.setdefault("currency", self.config.company.currency)
        return row


class StageChangeWriter(Writer):
    """Dated moves into the append-only ledger; each contact's current stage follows its latest move."""

    model = StageChange
    entity = "stage_change"
    copies = {f: f for f in ("changed_at", "reason", "note")}

    def __init__(self, *args):
        super().__init__(*args)
        self.id_column = "external_id"
        self.matcher = Matcher(self.conn, self.table, "external_id", None)
        self.contacts = lookups.contact_caches(self.conn, ID_COLUMN[self.dialect])
        self.opportunities = lookups.opportunity_cache(self.conn, ID_COLUMN[self.dialect])

    def load(self, records):
        for field_name, cache in self.contacts.items():
            cache.load(r.values.get(field_name) for r in records)
        self.opportunities.load(r.values.get("opportunity_external_id") for r in records)

    def resolve(self, record):
        kind = record.values.get("entity_type") or (
            "opportunity" if "opportunity_external_id" in record.values else "contact"
        )
        record.store["entity_type"] = kind
        errors = self._entity(record, kind)
        if kind == "contact":
            for field_name in ("from_stage", "to_stage"):
                if field_name in record.values:
                    try:
                        record.store[field_name] = self.reading.stage(record.values[field_name])
                    except BadValue as exc:
                        errors.append(record.error(field_name, "validation", str(exc)))
        else:
            record.store["from_stage"] = record.values.get("from_stage")
            record.store["to_stage"] = record.values["to_stage"]
        self.owner(record, "changed_by_email", "changed_by_id")
        return errors

    def _entity(self, record, kind) -> list[RowError]:
        if kind == "opportunity":
            found = self.opportunities.get(record.values.get("opportunity_external_id"))
            name = "opportunity_external_id"
        else:
            name = "contact_email" if "contact_email" in record.values else "contact_external_id"
            found = self.contacts[name].get(record.values.get(name))
        if found is None:
            return [record.error(name, "not_found", f"no {kind} {record.values.get(name)!r}; import {kind}s first")]
        record.store["entity_id"] = found
        return []

    def defaults(self, record):
        row = dict(record.store)
        funnel = self.config.funnel
        if row["entity_type"] == "contact":
            row["team_before"] = funnel.team_of(row["from_stage"]) if row.get("from_stage") else None
            row["team_after"] = funnel.team_of(row["to_stage"])
        return {**row, "origin": "import", "recorded_at": self.now}

    def conflict(self, record, match):
        if changes(match, record.store, frozenset({"id"})):
            return record.error(
                "external_id",
                "duplicate",
                f"stage change {record.store['external_id']!r} is already in the ledger with other values; the ledger is append-only",
            )
        return None

    def write(self, records):
        super().write(records)
        self._follow_latest_move({r.store["entity_id"] for r in records if r.store["entity_type"] == "contact"})

    def _follow_latest_move(self, contact_ids: set[int]) -> None:
        """A contact's current stage is the destination of its latest move in the ledger."""
        latest = (
            select(LEDGER.c.to_stage)
            .where(LEDGER.c.entity_type == "contact", LEDGER.c.entity_id == Contact.__table__.c.id)
            .order_by(LEDGER.c.changed_at.desc(), LEDGER.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        statement = (
            update(Contact.__table__)
            .where(Contact.__table__.c.id == bindparam("_cid"))
            .values(stage=latest, updated_at=self.now)
        )
        if contact_ids:
            self.conn.execute(statement, [{"_cid": i} for i in sorted(contact_ids)])


WRITERS = {
    "accounts": AccountWriter,
    "contacts": ContactWriter,
    "campaigns": CampaignWriter,
    "touchpoints": TouchpointWriter,
    "opportunities": OpportunityWriter,
    "stage_changes": StageChangeWriter,
}
