"""Contacts (leads are contacts in early stages), and the stage history an export can date."""

from __future__ import annotations

import datetime as dt

from truce.domain.lifecycle import IllegalMove, check_history
from truce.imports import lookups
from truce.imports.batch import Batch
from truce.imports.fields import MAPPED_STAGE_FIELDS
from truce.imports.values import BadValue
from truce.imports.writers.base import Writer
from truce.imports.writers.ledger import append_moves, move
from truce.store.models import Account, Contact, StageChange

LEDGER = StageChange.__table__


class ContactWriter(Writer):
    """A contact's current stage is stored on it; the ledger gets only moves we can date.

    An export without history says where a contact is, not when it got there, so a first
    import records no invented moves. HubSpot's "Became a … Date" columns are real dates and
    become ledger moves; a later import that finds a contact in another stage records that
    move at the time of the import, which is when truce learnt of it.
    """

    model = Contact
    entity = "contact"
    natural_key = "email"
    copies = ("email", "first_name", "last_name", "title", "phone", "source_channel", "lead_status", "created_at")
    # A company no account has yet becomes one when the batch is written, and the contact points at it.
    compared_later = ("account_id",)

    def __init__(self, *args):
        super().__init__(*args)
        self.accounts = lookups.account_caches(self.conn, self.id_column)
        self._mapped: dict[str, str | None] = {}

    def load(self, batch):
        for field_name, cache in self.accounts.items():
            if field_name in batch.values:
                cache.load(batch.values[field_name])

    def resolve(self, batch):
        self.references(batch, "account_external_id", self.accounts["account_external_id"], "account_id", "account")
        self.references(batch, "account_domain", self.accounts["account_domain"], "account_id", "account")
        self._companies(batch)
        self._stages(batch)
        self.owners(batch)
        batch.history = [self._dated_history(moves) for moves in batch.became] if batch.became else None
        if batch.history:
            self._follow_the_funnel(batch)

    def _follow_the_funnel(self, batch: Batch) -> None:
        """Dated history obeys the signed funnel like any other move; a row that breaks it is refused."""
        if batch.history is None:  # called only for a file with dated moves
            return
        for i, moves in enumerate(batch.history):
            stages = [None] + [stage for stage, _ in moves]
            try:
                check_history(self.config.funnel, list(zip(stages, stages[1:], strict=False)))
            except IllegalMove as exc:
                header = next(iter(batch.raw.columns), "")
                batch.fail(i, header, "validation", f"illegal history: {exc}")

    def _companies(self, batch: Batch) -> None:
        """A lead's company is free text: match an account by name, or create one on write."""
        names = batch.values.get("company")
        if names is None:
            return
        batch.new_company = [None] * batch.size
        linked = batch.column("account_id")
        for i, name in enumerate(names):
            if name is None or linked[i] is not None:
                continue
            found = self.accounts["company"].get(name)
            if found is not None:
                batch.put("account_id", i, found)
                continue
            batch.new_company[i] = name

    def _stages(self, batch: Batch) -> None:
        if "stage" in batch.values:
            stages = []
            for i, cell in enumerate(batch.values["stage"]):
                try:
                    stages.append(None if cell is None else self.reading.stage(cell))
                except BadValue as exc:
                    stages.append(None)
                    batch.fail(i, "stage", "validation", str(exc))
            batch.store["stage"] = stages
        elif self.dialect in MAPPED_STAGE_FIELDS:
            field_name, mapping = MAPPED_STAGE_FIELDS[self.dialect]
            values = batch.values.get(field_name)
            if values is not None:
                batch.store["stage"] = [
                    self._mapped_stage(batch, i, v, field_name, mapping) for i, v in enumerate(values)
                ]

    def _mapped_stage(self, batch, index, value, field_name, mapping) -> str | None:
        if value is None:
            return None
        if value not in self._mapped:
            self._mapped[value] = self.config.stage_for(self.dialect, mapping, value)
        stage = self._mapped[value]
        if stage is None:
            batch.fail(
                index,
                field_name,
                "validation",
                f"unknown stage {value!r}: add it to [mapping.{self.dialect}.{mapping}] in truce.toml",
            )
        return stage

    def _dated_history(self, dated: list[tuple[str, dt.datetime]]) -> list[tuple[str, dt.datetime]]:
        """HubSpot's per-stage dates as ordered (stage, when) moves, the earliest date per stage."""
        first: dict[str, dt.datetime] = {}
        for name, when in dated:
            stage = self.config.stage_for("hubspot", "lifecycle_stage", name)
            if stage is None:
                self.report.warnings[
                    f"'Became a {name} Date' names no stage in [mapping.hubspot.lifecycle_stage]: ignored"
                ] += 1
            elif stage not in first or when < first[stage]:
                first[stage] = when
        return sorted(first.items(), key=lambda item: item[1])

    def new_columns(self, batch, new):
        columns = super().new_columns(batch, new)
        history = batch.history
        first_stage = self.config.funnel.stages[0].key
        columns["stage"] = [
            stage if stage is not None else (history[i][-1][0] if history and history[i] else first_stage)
            for stage, i in zip(columns["stage"], new, strict=True)
        ]
        return columns

    def write(self, batch):
        self._create_companies(batch)
        super().write(batch)

    def _create_companies(self, batch: Batch) -> None:
        wanted = batch.new_company
        if not wanted:
            return
        cache = self.accounts["company"]
        names: dict[str, str] = {}
        for i in batch.good():
            if wanted[i] is not None and cache.get(wanted[i]) is None:
                names.setdefault(wanted[i].casefold(), wanted[i])
        created = list(names.values())
        count = len(created)
        ids = self._insert_accounts(created, count)
        self.report.accounts_created += count  # counted here: a rejected row's company is not created
        for name, new_id in zip(created, ids, strict=True):
            cache.add(name, new_id)
        for i in batch.good():
            if wanted[i] is not None:
                batch.put("account_id", i, cache.get(wanted[i]))

    def _insert_accounts(self, names: list[str], count: int) -> list[int]:
        from truce.imports.upsert import insert_new

        columns: dict[str, list] = {
            "name": names,
            "created_at": [self.now] * count,
            "updated_at": [self.now] * count,
            "is_key_account": [False] * count,
        }
        return insert_new(self.conn, Account.__table__, columns)

    def after_insert(self, batch, new, ids):
        history = batch.history
        if not history:
            return
        moves = []
        for i, contact_id in zip(new, ids, strict=True):
            moves += self._dated_moves(batch, i, contact_id)
        self.report.stage_changes_recorded += append_moves(self.conn, moves)

    def _dated_moves(self, batch: Batch, index: int, contact_id: int) -> list[dict]:
        key = batch.column(self.id_column)[index] or batch.store["email"][index]
        moves: list[dict] = []
        before: str | None = None
        if batch.history is None:  # called only for a file with dated moves
            return moves
        for stage, when in batch.history[index]:
            moves.append(
                move(
                    self.config,
                    contact_id,
                    before,
                    stage,
                    when,
                    self.now,
                    external_id=f"hubspot:{key}:{stage}:{when.isoformat()}",
                )
            )
            before = stage
        return moves

    def after_update(self, batch, updated):
        dated = self._new_dated_moves(batch)
        arrived = {(m["entity_id"], m["to_stage"]) for m in dated}
        observed = [
            move(
                self.config,
                record_id,
                before["stage"],
                changed["stage"],
                self.now,
                self.now,
                note="stage changed by import",
            )
            for record_id, before, changed in updated
            if "stage" in changed and (record_id, changed["stage"]) not in arrived
        ]
        self.report.stage_changes_recorded += append_moves(self.conn, dated + observed)

    def _new_dated_moves(self, batch: Batch) -> list[dict]:
        """Dated moves in an updated export that the ledger does not hold yet."""
        if not batch.history:
            return []
        candidates = [
            m
            for i in batch.good()
            if batch.match[i] is not None
            for m in self._dated_moves(batch, i, batch.match[i]["id"])
        ]
        keys = [m["external_id"] for m in candidates]
        known = lookups.fetch_by(self.conn, LEDGER, "external_id", keys, [LEDGER.c.external_id])
        return [m for m in candidates if m["external_id"] not in known]
