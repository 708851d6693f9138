"""Accounts, campaigns, touchpoints and opportunities: records that point at each other."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from truce.imports import lookups
from truce.imports.batch import Batch
from truce.imports.dialects import ID_COLUMN
from truce.imports.upsert import changes
from truce.imports.writers.base import Writer
from truce.store.models import Account, Campaign, Contact, Opportunity, Touchpoint, User
from truce.store.types import to_money


class UserWriter(Writer):
    """The people of both teams. Owners in other exports are matched to them by email, id or name."""

    model = User
    entity = "user"
    natural_key = "email"
    copies = ("email", "name", "team", "marketing_focus", "is_leader", "region", "segment", "active", "created_at")

    def resolve(self, batch):
        first, last = batch.values.get("first_name"), batch.values.get("last_name")
        names = batch.column("name")
        for i in range(batch.size):
            if names[i] is None:
                spelled = " ".join(
                    p for p in ((first or [None] * batch.size)[i], (last or [None] * batch.size)[i]) if p
                )
                batch.put("name", i, spelled or batch.store["email"][i])
        focus, teams = batch.column("marketing_focus"), batch.column("team")
        for i in range(batch.size):
            if focus[i] is not None and teams[i] not in (None, "marketing"):
                batch.fail(
                    i,
                    "marketing_focus",
                    "validation",
                    f"only marketers are upstream or downstream; this user is on the {teams[i]} team",
                )


class AccountWriter(Writer):
    model = Account
    entity = "account"
    natural_key = "domain"
    copies = ("name", "domain", "industry", "employees", "region", "segment", "is_key_account", "created_at")

    def resolve(self, batch):
        self.owners(batch)

    def check_matches(self, batch):
        """A row with neither id nor domain is the account of that name that has neither either: the
        kind an import makes from a lead's company name. Else re-importing an export would add it twice."""
        ids, domains, names = batch.column(self.id_column), batch.column("domain"), batch.column("name")
        keyless = [i for i in batch.good() if batch.match[i] is None and ids[i] is None and domains[i] is None]
        if not keyless:
            return
        table = self.table
        found: dict[str, int] = {}
        query = select(table.c.id, table.c.name).where(table.c[self.id_column].is_(None), table.c.domain.is_(None))
        for account_id, name in self.conn.execute(query.order_by(table.c.id)):
            found.setdefault(name.casefold(), account_id)
        wanted = {i: found.get(names[i].casefold()) for i in keyless if names[i]}
        stored = lookups.fetch_by(self.conn, table, "id", {v for v in wanted.values() if v is not None})
        for i, account_id in wanted.items():
            if account_id is not None:
                batch.match[i] = stored[account_id]


class CampaignWriter(Writer):
    model = Campaign
    entity = "campaign"
    copies = ("name", "channel", "owning_team", "budget", "actual_cost", "starts_on", "ends_on")

    def resolve(self, batch):
        self.owners(batch)
        starts, ends = batch.column("starts_on"), batch.column("ends_on")
        for i in range(batch.size):
            if starts[i] and ends[i] and ends[i] < starts[i]:
                batch.fail(i, "ends_on", "validation", f"ends {ends[i]} before it starts {starts[i]}")

    def new_columns(self, batch, new):
        columns = super().new_columns(batch, new)
        columns["owning_team"] = [team or "marketing" for team in columns["owning_team"]]
        return columns


class TouchpointWriter(Writer):
    """Marketing and sales touches. A touch by a sales user counts as a sales touch."""

    model = Touchpoint
    entity = "touchpoint"
    copies = ("channel", "kind", "touch_type", "occurred_at")

    def __init__(self, *args):
        super().__init__(*args)
        self.contacts = lookups.contact_caches(self.conn, ID_COLUMN[self.dialect])
        self.campaigns = lookups.campaign_caches(self.conn, ID_COLUMN[self.dialect])
        self._campaign_channels = dict(self.conn.execute(select(Campaign.id, Campaign.channel)).all())

    def load(self, batch):
        for field_name, cache in {**self.contacts, **self.campaigns}.items():
            if field_name in batch.values:
                cache.load(batch.values[field_name])

    def resolve(self, batch):
        self.references(batch, "contact_email", self.contacts["contact_email"], "contact_id", "contact")
        self.references(batch, "contact_external_id", self.contacts["contact_external_id"], "contact_id", "contact")
        self.references(
            batch, "campaign_external_id", self.campaigns["campaign_external_id"], "campaign_id", "campaign"
        )
        self.owners(batch, "user_email", "user_id")
        contact_ids = [c for c in batch.column("contact_id") if c is not None]
        accounts = (
            dict(
                self.conn.execute(select(Contact.id, Contact.account_id).where(Contact.id.in_(set(contact_ids)))).all()
            )
            if contact_ids
            else {}
        )
        batch.store["account_id"] = [accounts.get(c) for c in batch.column("contact_id")]
        fallback = batch.values.get("occurred_at_fallback")
        if fallback is not None:
            batch.store["occurred_at"] = [
                a if a is not None else b for a, b in zip(batch.column("occurred_at"), fallback, strict=True)
            ]
        batch.store["touch_type"] = [
            t.strip().lower().replace(" ", "_") if t else "campaign_response" for t in batch.column("touch_type")
        ]
        campaigns = batch.column("campaign_id")
        batch.store["channel"] = [
            ch or self._campaign_channels.get(cid) for ch, cid in zip(batch.column("channel"), campaigns, strict=True)
        ]
        users = batch.column("user_id")
        batch.store["kind"] = [
            k or ("sales" if u and self.people.team_of(u) == "sales" else "marketing")
            for k, u in zip(batch.column("kind"), users, strict=True)
        ]

    def write(self, batch):
        """New or changed touches change scores: rescore those contacts; inquiries that cross the line become MQLs.

        Touches the store already held unchanged rescore nobody, so re-running an import changes nothing.
        """
        from truce.services.scoring import rescore

        contacts = batch.store["contact_id"]
        touched = {contacts[i] for i in batch.good() if self._new_or_changed(batch, i)} - {None}
        super().write(batch)
        moved = rescore(self.conn, self.config, touched, self.now) if touched else []
        self.report.contacts_rescored += len(touched)
        self.report.became_mql += len(moved)

    def _new_or_changed(self, batch, index: int) -> bool:
        stored = batch.match[index]
        return stored is None or bool(changes(stored, {c: v[index] for c, v in batch.store.items()}, frozenset({"id"})))


class OpportunityWriter(Writer):
    model = Opportunity
    entity = "opportunity"
    copies = (
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

    def __init__(self, *args):
        super().__init__(*args)
        self.accounts = lookups.account_caches(self.conn, self.id_column)
        self.contacts = lookups.contact_caches(self.conn, self.id_column)
        self.campaigns = lookups.campaign_caches(self.conn, self.id_column)

    def load(self, batch):
        caches = {**self.accounts, **self.campaigns, "primary_contact_email": self.contacts["contact_email"]}
        for field_name, cache in caches.items():
            if field_name in batch.values:
                cache.load(batch.values[field_name])

    def resolve(self, batch):
        for field_name, cache, column, what in (
            ("account_external_id", self.accounts["account_external_id"], "account_id", "account"),
            ("account_domain", self.accounts["account_domain"], "account_id", "account"),
            ("company", self.accounts["company"], "account_id", "account"),
            ("primary_contact_email", self.contacts["contact_email"], "primary_contact_id", "contact"),
            ("campaign_external_id", self.campaigns["campaign_external_id"], "campaign_id", "campaign"),
            ("campaign_name", self.campaigns["campaign_name"], "campaign_id", "campaign"),
        ):
            self.references(batch, field_name, cache, column, what)
        self.owners(batch)
        for i in range(batch.size):
            self._price(batch, i)

    def _price(self, batch: Batch, i: int) -> None:
        """Amount, list amount and discount agree: any two of them give the third."""
        amount, listed, rate = (
            batch.column("amount")[i],
            batch.column("list_amount")[i],
            batch.column("discount_rate")[i],
        )
        if amount is not None and amount < 0:
            batch.fail(i, "amount", "validation", f"negative amount {amount}")
            return
        if listed is not None and amount is not None and rate is None and listed > 0:
            batch.put("discount_rate", i, (1 - amount / listed).quantize(Decimal("0.0001")))
        elif listed is None and amount is not None and rate is not None and rate < 1:
            batch.put("list_amount", i, to_money(amount / (1 - rate)))
        stage, status = batch.column("stage")[i], batch.column("status")[i]
        if status is None and stage is not None:
            batch.put("status", i, self.config.deal_status(stage))
        if stage is None and status is not None:
            batch.put("stage", i, status)

    def new_columns(self, batch, new):
        columns = super().new_columns(batch, new)
        # The company's currency, not the column's default, when the file does not say.
        currencies = batch.column("currency")
        columns["currency"] = [currencies[i] or self.config.company.currency for i in new]
        return columns
