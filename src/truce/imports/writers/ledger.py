"""The stage ledger: dated moves appended, never rewritten; a contact's stage follows its latest move."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import bindparam, select, update

from truce.config import TruceConfig
from truce.domain.lifecycle import IllegalMove, check_move
from truce.imports import lookups
from truce.imports.batch import Batch
from truce.imports.dialects import ID_COLUMN
from truce.imports.upsert import audit_updates, changes, insert_new
from truce.imports.values import BadValue
from truce.imports.writers.base import Writer
from truce.store.models import Contact, StageChange

LEDGER = StageChange.__table__
CONTACTS = Contact.__table__


def move(
    config: TruceConfig, contact_id: int, before: str | None, after: str, at: dt.datetime, now: dt.datetime, **extra
) -> dict:
    """One contact's move as a ledger row, with the team that held the lead on each side."""
    funnel = config.funnel
    return {
        "entity_type": "contact",
        "entity_id": contact_id,
        "from_stage": before,
        "to_stage": after,
        "changed_at": at,
        "team_before": funnel.team_of(before) if before else None,
        "team_after": funnel.team_of(after),
        "origin": "import",
        "recorded_at": now,
        **extra,
    }


def append_moves(conn, moves: list[dict]) -> int:
    if not moves:
        return 0
    names = sorted({k for m in moves for k in m})
    insert_new(conn, LEDGER, {name: [m.get(name) for m in moves] for name in names})
    return len(moves)


# Ids per IN (...) list; SQLite builds before 3.32 allow 999 parameters.
ID_CHUNK = 900


class StageChangeWriter(Writer):
    """Rows of a stage-change export, idempotent by external id.

    The same move (lead, from, to, moment) under a second external id is a duplicate: counted
    as unchanged, never a second ledger row. A lead whose current stage leaves the handoff stage
    has its open handoff closed as that move's decision.
    """

    model = StageChange
    entity = "stage_change"
    copies = ("changed_at", "reason", "note")
    history = True  # a file is history: its first move of a lead may start anywhere in the funnel
    compares_stored_rows = True  # the ledger is append-only: a known id with other values is refused

    def __init__(self, *args):
        super().__init__(*args)
        self.id_column = "external_id"
        self._moves_in_file: dict[int, list] = {}  # contact → (when, stage) of this file's earlier batches
        self._keys_in_file: set[tuple] = set()  # every move of this file so far, as its duplicate key
        source_ids = ID_COLUMN[self.dialect]
        self.contacts = lookups.contact_caches(self.conn, source_ids)
        self.opportunities = lookups.opportunity_cache(self.conn, source_ids)

    def load(self, batch):
        for field_name, cache in self.contacts.items():
            if field_name in batch.values:
                cache.load(batch.values[field_name])
        if "opportunity_external_id" in batch.values:
            self.opportunities.load(batch.values["opportunity_external_id"])

    def resolve(self, batch):
        kinds = batch.values.get("entity_type") or [None] * batch.size
        deals = batch.values.get("opportunity_external_id") or [None] * batch.size
        batch.store["entity_type"] = [
            k or ("opportunity" if d else "contact") for k, d in zip(kinds, deals, strict=True)
        ]
        self.references(batch, "contact_email", self.contacts["contact_email"], "entity_id", "contact")
        self.references(batch, "contact_external_id", self.contacts["contact_external_id"], "entity_id", "contact")
        self.references(batch, "opportunity_external_id", self.opportunities, "entity_id", "opportunity")
        for name in ("from_stage", "to_stage"):
            batch.store[name] = [self._stage(batch, i, name) for i in range(batch.size)]
        self._follow_the_funnel(batch)
        self.owners(batch, "changed_by_email", "changed_by_id")
        # A lead's team follows from the funnel; a deal's, outside it, is what the file says (if anything).
        funnel = self.config.funnel
        contact = [kind == "contact" for kind in batch.store["entity_type"]]
        for side, stages in (("team_before", batch.store["from_stage"]), ("team_after", batch.store["to_stage"])):
            written = batch.values.get(side) or [None] * batch.size
            batch.store[side] = [
                (funnel.team_of(s) if s else None) if c else team
                for s, c, team in zip(stages, contact, written, strict=True)
            ]

    def _follow_the_funnel(self, batch: Batch) -> None:
        """Imported history obeys the signed funnel like any other move.

        A move without a from-stage starts where the lead was just before it (its previous
        move in the ledger or earlier in the file), and that is filled in. Each move must be
        one truce.toml allows from its from-stage; gaps in a CRM's history are tolerated.
        """
        kinds, ids = batch.store["entity_type"], batch.column("entity_id")
        froms, tos, whens = batch.store["from_stage"], batch.store["to_stage"], batch.column("changed_at")
        rows = [
            i
            for i in range(batch.size)
            if kinds[i] == "contact"
            and ids[i] is not None
            and tos[i] is not None
            and whens[i] is not None
            and i not in batch.errors
        ]
        known = self._known_moves({ids[i] for i in rows})
        starts = self.stages_before_any_move({ids[i] for i in rows})
        for contact_id in {ids[i] for i in rows} & self._moves_in_file.keys():
            known.setdefault(contact_id, []).extend(self._moves_in_file[contact_id])
            known[contact_id].sort(key=lambda move: move[0])
        for i in sorted(rows, key=lambda i: (ids[i], whens[i], i)):
            if froms[i] is None:
                earlier = [stage for at, stage in known.get(ids[i], []) if at < whens[i]]
                froms[i] = earlier[-1] if earlier else starts.get(ids[i])
            try:
                check_move(self.config.funnel, froms[i], tos[i], history=self.history)
            except IllegalMove as exc:
                batch.fail(i, "to_stage", "validation", f"illegal move: {exc}")
                continue
            known.setdefault(ids[i], []).append((whens[i], tos[i]))
            known[ids[i]].sort(key=lambda move: move[0])
            self._moves_in_file.setdefault(ids[i], []).append((whens[i], tos[i]))

    def stages_before_any_move(self, contact_ids: set[int]) -> dict[int, str]:
        """Where each lead stood before its first move on record. A file is history: nowhere (its
        first move enters the funnel)."""
        return {}

    def _known_moves(self, contact_ids: set[int]) -> dict[int, list]:
        if not contact_ids:
            return {}
        rows = self.conn.execute(
            select(LEDGER.c.entity_id, LEDGER.c.changed_at, LEDGER.c.to_stage)
            .where(LEDGER.c.entity_type == "contact", LEDGER.c.entity_id.in_(sorted(contact_ids)))
            .order_by(LEDGER.c.entity_id, LEDGER.c.changed_at, LEDGER.c.id)
        )
        moves: dict[int, list] = {}
        for contact_id, at, stage in rows:
            moves.setdefault(contact_id, []).append((at, stage))
        return moves

    def _stage(self, batch: Batch, index: int, name: str) -> str | None:
        cell = batch.values.get(name, [None] * batch.size)[index]
        if cell is None or batch.store["entity_type"][index] != "contact":
            return cell  # a deal's stages are whatever the CRM calls them
        try:
            return self.reading.stage(cell)
        except BadValue as exc:
            batch.fail(index, name, "validation", str(exc))
            return None

    def check_matches(self, batch):
        self._same_moves(batch)
        for i in batch.good():
            stored = batch.match[i]
            incoming = {c: values[i] for c, values in batch.store.items() if c not in ("team_before", "team_after")}
            if stored is not None and changes(stored, incoming, frozenset({"id"})):
                key = batch.store["external_id"][i]
                batch.fail(
                    i,
                    "external_id",
                    "duplicate",
                    f"stage change {key!r} is already in the ledger with other values; the ledger is append-only",
                )

    def _same_moves(self, batch: Batch) -> None:
        """Rows new by external id whose move is already in the ledger (or earlier in the file) under
        another id: matched to themselves, so they count as unchanged and are not written again."""
        keys = [_move_key(batch, i) for i in range(batch.size)]
        new = {i: key for i in batch.good() if batch.match[i] is None and (key := keys[i]) is not None}
        stored = self._stored_keys(set(new.values()))
        for i, key in new.items():
            if key in stored or key in self._keys_in_file:
                batch.match[i] = {column: values[i] for column, values in batch.store.items()}
                self.report.warnings[
                    "the same move is already in the ledger under another external id: not written again"
                ] += 1
            self._keys_in_file.add(key)

    def _stored_keys(self, keys: set[tuple]) -> set[tuple]:
        if not keys:
            return set()
        found: set[tuple] = set()
        ordered = sorted({(kind, entity_id) for kind, entity_id, *_ in keys})
        for start in range(0, len(ordered), ID_CHUNK):
            chunk = ordered[start : start + ID_CHUNK]
            rows = self.conn.execute(
                select(
                    LEDGER.c.entity_type,
                    LEDGER.c.entity_id,
                    LEDGER.c.from_stage,
                    LEDGER.c.to_stage,
                    LEDGER.c.changed_at,
                ).where(LEDGER.c.entity_id.in_(sorted({entity_id for _, entity_id in chunk})))
            )
            found.update((kind, entity_id, before, after, at) for kind, entity_id, before, after, at in rows)
        return keys & found

    def new_columns(self, batch, new):
        columns = super().new_columns(batch, new)
        columns["origin"] = ["import"] * len(new)
        return columns

    def write(self, batch):
        super().write(batch)
        kinds, ids = batch.store["entity_type"], batch.store["entity_id"]
        moved = self._follow_latest_move({ids[i] for i in batch.good() if kinds[i] == "contact"})
        self.follow_handoffs(moved)

    def follow_handoffs(self, moved: list[tuple[int, str, str]]) -> None:
        """(contact, stage before, stage after) of every lead whose current stage changed: a lead that
        left the handoff stage has its open handoff closed, decided by the move that took it out."""
        from truce.services import handoff

        stage = self.config.funnel.handoff_stage
        for contact_id, before, after in moved:
            if before == stage and after != stage:
                decision = self._latest_move(contact_id)
                handoff.close(
                    self.conn, self.config, contact_id, after, decision.changed_at, decision.changed_by_id,
                    decision.reason, decision.note,
                )  # fmt: skip

    def _latest_move(self, contact_id: int):
        return self.conn.execute(
            select(LEDGER.c.changed_at, LEDGER.c.changed_by_id, LEDGER.c.reason, LEDGER.c.note)
            .where(LEDGER.c.entity_type == "contact", LEDGER.c.entity_id == contact_id)
            .order_by(LEDGER.c.changed_at.desc(), LEDGER.c.id.desc())
            .limit(1)
        ).one()

    def _follow_latest_move(self, contact_ids: set[int]) -> list[tuple[int, str, str]]:
        """A contact's current stage is the destination of its latest move in the ledger.

        Returns (contact, stage before, stage after) of each contact whose stage changed.
        """
        if not contact_ids:
            return []
        latest = (
            select(LEDGER.c.to_stage)
            .where(LEDGER.c.entity_type == "contact", LEDGER.c.entity_id == CONTACTS.c.id)
            .order_by(LEDGER.c.changed_at.desc(), LEDGER.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        # Only contacts whose stage moves: re-importing the same ledger must change nothing.
        moving = []
        ordered = sorted(contact_ids)
        for start in range(0, len(ordered), ID_CHUNK):
            found = self.conn.execute(
                select(CONTACTS.c.id, CONTACTS.c.stage, latest.label("latest")).where(
                    CONTACTS.c.id.in_(ordered[start : start + ID_CHUNK]), CONTACTS.c.stage != latest
                )
            )
            moving += [(row.id, {"stage": row.stage}, {"stage": row.latest}) for row in found]
        if not moving:
            return []
        statement = (
            update(CONTACTS)
            .where(CONTACTS.c.id == bindparam("_cid"))
            .values(stage=bindparam("_stage"), updated_at=self.now)
        )
        self.conn.execute(statement, [{"_cid": cid, "_stage": after["stage"]} for cid, _, after in moving])
        # The ledger rows are the record of the moves; the entries say which contacts' stage they changed.
        audit_updates(self.conn, "contact", moving, self.actor, self.now)
        return [(cid, before["stage"], after["stage"]) for cid, before, after in moving]


def _move_key(batch: Batch, index: int) -> tuple | None:
    """What makes two ledger rows the same move: the record, both stages and the moment."""
    kind, entity_id = batch.store["entity_type"][index], batch.column("entity_id")[index]
    to_stage, at = batch.store["to_stage"][index], batch.column("changed_at")[index]
    if entity_id is None or to_stage is None or at is None:
        return None
    return (kind, entity_id, batch.store["from_stage"][index], to_stage, at)
