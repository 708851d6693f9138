"""`truce sync`: bring the shared database up to date with a CRM, page by page.

A sync is an importer with a cursor. For each object the connector lists (owners before
contacts, contacts before their touches), it asks for the records changed since the object's
cursor and writes each page through the file importer's writers (truce.imports.rows) in one
unit of work together with the cursor that follows it, the page's rejects and its audit entry.
So a sync killed between pages resumes after the last page that is in: no gap, no duplicate,
and running it twice changes nothing. Records the CRM deleted or merged are marked, not removed
(truce.services.connectors.removals). A record that cannot go in is a reject, named by its CRM
id, and is asked for again by the next sync; the rest go in.

`--full` reads every record again (resuming an interrupted full sync where it stopped), and
then reconciles: what it updated is what differed, and records truce holds that the CRM no
longer lists are marked deleted and reported.
"""

from __future__ import annotations

import queue
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import Engine, insert, select, update

from truce.config import TruceConfig
from truce.imports.rows import import_rows
from truce.services.connectors import connections, removals
from truce.services.connectors.errors import CredentialRevoked, CrmError, SyncRefused
from truce.services.connectors.protocol import Connector, CrmObject, Page
from truce.store.models import CrmConnection, CrmSyncCursor, CrmSyncReject, CrmSyncRun
from truce.store.work import make_way, unit_of_work

COUNTS = ("pages", "read", "inserted", "updated", "unchanged", "rejected", "deleted", "merged", "handoffs_opened")
# A unit of work takes pages until it holds this many records or has been open this long: a
# page of 100 through the importer costs more in set-up than in rows, and a crash loses at most this.
ROWS_PER_COMMIT = 5_000
COMMIT_SECONDS = 1.0
# A run still marked running whose cursors moved this recently is another sync at work.
BUSY_SECONDS = 120


@dataclass
class SyncReport:
    connection: str
    system: str
    full: bool
    run_id: int | None = None
    status: str = "running"
    objects: dict[str, dict[str, int]] = field(default_factory=dict)
    rejects: list[dict] = field(default_factory=list)
    differences: dict[str, dict] = field(default_factory=dict)
    error: str | None = None

    def add(self, name: str, key: str, amount: int) -> None:
        counts = self.objects.setdefault(name, dict.fromkeys(COUNTS, 0))
        counts[key] += amount

    def totals(self) -> dict[str, int]:
        return {key: sum(counts[key] for counts in self.objects.values()) for key in COUNTS}

    def as_dict(self) -> dict:
        return {
            "connection": self.connection, "system": self.system, "full": self.full, "run_id": self.run_id,
            "status": self.status, "totals": self.totals(), "objects": self.objects,
            "rejects": self.rejects[:200], "reject_count": len(self.rejects),
            "differences": self.differences, "error": self.error,
        }  # fmt: skip


Progress = Callable[[str, int], None]  # (object, records read so far)


def open_connector(connection: connections.Connection, config: TruceConfig, engine: Engine) -> Connector:
    """The connector for a connection's system (imported on demand: the CLI stays quick)."""
    if connection.system == "hubspot":
        from truce.services.connectors.hubspot import HubSpotConnector

        return HubSpotConnector(connection, config, engine)
    from truce.services.connectors.salesforce import SalesforceConnector

    return SalesforceConnector(connection, config, engine)


def sync(
    engine: Engine,
    config: TruceConfig,
    name: str,
    *,
    full: bool = False,
    actor: str = "sync",
    origin: str = "sync",
    only: list[str] | None = None,
    progress: Progress | None = None,
    connector: Connector | None = None,
) -> SyncReport:
    """Pull every object of connection `name`; raises SyncRefused/CrmError with the run on record."""
    connection = connections.get(engine, name)
    if not connection.active:
        raise SyncRefused(f"the connection {name!r} was revoked; run `truce connect {connection.system}` again")
    report = SyncReport(connection.name, connection.system, full)
    report.run_id = _start_run(engine, connection, full, actor, origin)
    connector = connector or open_connector(connection, config, engine)
    try:
        for obj in connector.objects():
            if only and obj.name not in only:
                continue
            _sync_object(engine, config, connection, connector, obj, report, full, actor, origin, progress)
    except CredentialRevoked as exc:
        _end_run(engine, connection, report, "stopped", str(exc), actor, origin)
        raise
    except (CrmError, Exception) as exc:
        _end_run(engine, connection, report, "failed", f"{type(exc).__name__}: {exc}", actor, origin)
        raise
    finally:
        connector.close()
    _end_run(engine, connection, report, "ok", None, actor, origin)
    return report


def _start_run(engine: Engine, connection, full: bool, actor: str, origin: str) -> int:
    with unit_of_work(engine, actor, origin) as work:
        running = work.conn.execute(
            select(CrmSyncRun.id, CrmSyncRun.started_at)
            .where(CrmSyncRun.connection_id == connection.id, CrmSyncRun.status == "running")
        ).all()  # fmt: skip
        heartbeat = work.conn.execute(
            select(CrmSyncCursor.updated_at)
            .where(CrmSyncCursor.connection_id == connection.id)
            .order_by(CrmSyncCursor.updated_at.desc())
            .limit(1)
        ).scalar_one_or_none()
        latest = max([heartbeat, *(r.started_at for r in running)], default=None, key=lambda t: t or work.now)
        if running and latest and (work.now - latest).total_seconds() < BUSY_SECONDS:
            raise SyncRefused(
                f"a sync of {connection.name!r} is running (run {running[-1].id}); try again when it ends"
            )
        for stale in running:  # a sync that died: its pages are in, its cursor says where it stopped
            work.conn.execute(
                update(CrmSyncRun)
                .where(CrmSyncRun.id == stale.id)
                .values(
                    status="failed",
                    finished_at=work.now,
                    error="interrupted; the next sync resumed after its last page",
                )
            )
        return work.conn.execute(
            insert(CrmSyncRun).returning(CrmSyncRun.id),
            {"connection_id": connection.id, "full": full, "actor": actor, "started_at": work.now, "status": "running"},
        ).scalar_one()


def _end_run(engine, connection, report: SyncReport, status: str, error: str | None, actor: str, origin: str) -> None:
    report.status, report.error = status, error
    with unit_of_work(engine, actor, origin) as work:
        work.conn.execute(
            update(CrmSyncRun)
            .where(CrmSyncRun.id == report.run_id)
            .values(status=status, finished_at=work.now, counts=report.totals() | {"objects": report.objects},
                    differences=report.differences or None, error=error)
        )  # fmt: skip
        values = (
            {"last_error": error, "last_error_at": work.now}
            if error
            else {"last_sync_at": work.now, "last_error": None}
        )
        work.conn.execute(update(CrmConnection).where(CrmConnection.id == connection.id).values(values))


def _sync_object(engine, config, connection, connector, obj: CrmObject, report, full, actor, origin, progress) -> None:
    report.add(obj.name, "pages", 0)
    _retry_rejects(engine, config, connection, connector, obj, report, actor, origin)
    cursor, position = _cursor(engine, connection.id, obj.name)
    if full and position is None:
        cursor = None  # a new full sync reads everything; an interrupted one resumes at its position
    # The ids a full listing returned, as 8-byte hashes: four million touch ids held as strings
    # would take half a gigabyte; as hashes they take 32 MB (a collision could only hide a deletion).
    seen = array("q") if full else None
    held: list[Page] = []
    held_keys: set[tuple[str, str]] = set()
    opened = time.monotonic()
    for page in _ahead(connector.pages(obj, cursor, position if full else None, full)):
        keys = _keys(page)
        if held and not held_keys.isdisjoint(keys):
            # A record this page changes again (a connector that writes a lead in two steps, or a
            # record modified while the sync ran): what is held goes in first, so the order holds.
            _write_page(engine, config, connection, obj, _together(held), report, actor, origin)
            held, held_keys, opened = [], set(), time.monotonic()
        held.append(page)
        held_keys |= keys
        report.add(obj.name, "pages", 1)
        if seen is not None:
            seen.extend(map(hash, page.seen))
        if sum(p.size() for p in held) >= ROWS_PER_COMMIT or time.monotonic() - opened >= COMMIT_SECONDS:
            _write_page(engine, config, connection, obj, _together(held), report, actor, origin)
            held, held_keys, opened = [], set(), time.monotonic()
            if progress:
                progress(obj.name, report.objects[obj.name]["read"])
            make_way(engine)
    if held:
        _write_page(engine, config, connection, obj, _together(held), report, actor, origin)
        if progress:
            progress(obj.name, report.objects[obj.name]["read"])
    if seen is not None and not obj.full_only:
        report.differences[obj.name] = _reconcile(engine, connection, obj, seen, report, actor, origin)


def _ahead(pages: Iterator[Page], depth: int = 8) -> Iterator[Page]:
    """The connector's pages, fetched in a thread of their own while the store writes the last ones:
    the CRM's answer time and the importer's work overlap instead of adding up. At most `depth`
    pages wait in memory; an error in the fetching thread is raised here, in order."""
    waiting: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def fetch() -> None:
        try:
            for page in pages:
                while not stop.is_set():
                    try:
                        waiting.put(("page", page), timeout=0.2)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            waiting.put(("end", None))
        except BaseException as exc:  # handed to the writer, which raises it where the sync can record it
            waiting.put(("error", exc))

    fetcher = threading.Thread(target=fetch, name="crm-pages", daemon=True)
    fetcher.start()
    try:
        while True:
            kind, item = waiting.get()
            if kind == "end":
                return
            if kind == "error":
                raise item
            yield item
    finally:
        stop.set()
        fetcher.join(timeout=5)


def _keys(page: Page) -> set:
    return {
        (table, row.get("external_id")) for table, rows in page.rows.items() for row in rows if row.get("external_id")
    }


def _together(pages: list[Page]) -> Page:
    """Pages written in one unit of work, as one page. A record listed twice (changed again while
    the sync ran) keeps its latest version: the importer would refuse the same id twice in a batch."""
    if len(pages) == 1:
        return pages[0]
    rows: dict[str, dict] = {}
    for page in pages:
        for table, table_rows in page.rows.items():
            latest = rows.setdefault(table, {})
            for index, row in enumerate(table_rows):
                latest.pop(row.get("external_id") or ("row", id(page), index), None)
                latest[row.get("external_id") or ("row", id(page), index)] = row
    last = pages[-1]
    cursor = next((p.cursor for p in reversed(pages) if p.cursor is not None), None)
    return Page(
        rows={table: list(latest.values()) for table, latest in rows.items()},
        cursor=cursor,
        position=last.position,
        deleted=[crm_id for p in pages for crm_id in p.deleted],
        merged=[pair for p in pages for pair in p.merged],
        seen=[],
    )


def _cursor(engine: Engine, connection_id: int, name: str) -> tuple[str | None, str | None]:
    with engine.connect() as conn:
        row = conn.execute(
            select(CrmSyncCursor.cursor, CrmSyncCursor.position).where(
                CrmSyncCursor.connection_id == connection_id, CrmSyncCursor.object == name
            )
        ).first()
    return (row.cursor, row.position) if row else (None, None)


def _write_page(engine, config, connection, obj: CrmObject, page: Page, report: SyncReport, actor, origin) -> None:
    """One page, its cursor, its rejects and its audit entry: all in, or none."""
    source = f"{connection.system} {obj.name}"
    with unit_of_work(engine, actor, origin, announce=False) as work:
        written, rejects = write_records(work, config, connection, obj, page, report, actor, source)
        _store_cursor(work, connection.id, obj.name, page, written)
        _store_rejects(work, connection.id, report.run_id, obj.name, rejects)
        if work.data_tables:
            counts = report.objects[obj.name]
            work.record("crm_sync_page", obj.table, None, None,
                        {"connection": connection.name, "object": obj.name, "records": written,
                         "cursor": page.cursor, "totals_so_far": dict(counts)})  # fmt: skip
    report.rejects.extend({"object": obj.name, "crm_id": r[0], "reason": r[1]} for r in rejects)


def write_records(work, config, connection, obj: CrmObject, page: Page, report: SyncReport, actor, source):
    """Rows through the importer, then merges and deletions, then the handoffs they start or end.
    Returns (records written, [(crm id, reason)])."""
    rejects: list[tuple[str, str]] = []
    written, touched_contacts = 0, set()
    for table, rows in page.rows.items():
        result = import_rows(work.conn, table, obj.dialect, rows, config, actor=actor, now=work.now, source=source)
        written += len(rows)
        report.add(obj.name, "read", len(rows))
        for key in ("inserted", "updated", "unchanged", "rejected"):
            report.add(obj.name, key, getattr(result.report, key))
        rejects.extend((r.crm_id, "; ".join(r.reasons)) for r in result.rejects)
        if table in ("contacts", "stage_changes"):
            touched_contacts |= removals.contacts_of(work.conn, table, obj.dialect, rows)
    report.add(obj.name, "merged", removals.merge(work, obj.table, obj.dialect, page.merged))
    report.add(obj.name, "deleted", removals.soft_delete(work, obj.table, obj.dialect, page.deleted))
    if touched_contacts:
        from truce.services.connectors.handoffs import follow

        report.add(obj.name, "handoffs_opened", follow(work.conn, config, sorted(touched_contacts), work.now))
    return written + len(page.deleted) + len(page.merged), rejects


def _store_cursor(work, connection_id: int, name: str, page: Page, written: int) -> None:
    stored = work.conn.execute(
        select(CrmSyncCursor.id, CrmSyncCursor.cursor, CrmSyncCursor.records).where(
            CrmSyncCursor.connection_id == connection_id, CrmSyncCursor.object == name
        )
    ).first()
    values = {"position": page.position, "updated_at": work.now}
    if page.cursor is not None:
        values["cursor"] = page.cursor
    if stored is None:
        work.conn.execute(
            insert(CrmSyncCursor),
            {"connection_id": connection_id, "object": name, "records": written, "cursor": page.cursor} | values,
        )
    else:
        values["records"] = stored.records + written
        work.conn.execute(update(CrmSyncCursor).where(CrmSyncCursor.id == stored.id).values(values))


def _store_rejects(work, connection_id: int, run_id: int | None, name: str, rejects: list[tuple[str, str]]) -> None:
    if not rejects:
        return
    ids = [crm_id for crm_id, _ in rejects]
    # One open reject per record: the latest reason replaces an older one.
    work.conn.execute(
        update(CrmSyncReject)
        .where(CrmSyncReject.connection_id == connection_id, CrmSyncReject.object == name,
               CrmSyncReject.crm_id.in_(ids), CrmSyncReject.resolved_at.is_(None))
        .values(resolved_at=work.now)
    )  # fmt: skip
    work.conn.execute(
        insert(CrmSyncReject),
        [{"connection_id": connection_id, "run_id": run_id, "object": name, "crm_id": crm_id, "reason": reason,
          "seen_at": work.now} for crm_id, reason in rejects],
    )  # fmt: skip


def _retry_rejects(engine, config, connection, connector: Connector, obj: CrmObject, report, actor, origin) -> None:
    """Records refused before (an owner not yet known, a bad value since fixed) are asked for again."""
    with engine.connect() as conn:
        ids = conn.execute(
            select(CrmSyncReject.crm_id)
            .where(CrmSyncReject.connection_id == connection.id, CrmSyncReject.object == obj.name,
                   CrmSyncReject.resolved_at.is_(None))
            .distinct()
        ).scalars().all()  # fmt: skip
    for start in range(0, len(ids), 100):
        chunk = list(ids[start : start + 100])
        page = connector.fetch(obj, chunk)
        page.cursor = page.position = None
        with unit_of_work(engine, actor, origin) as work:
            _, rejects = write_records(
                work, config, connection, obj, page, report, actor, f"{connection.system} {obj.name}"
            )
            still = {crm_id for crm_id, _ in rejects}
            work.conn.execute(
                update(CrmSyncReject)
                .where(CrmSyncReject.connection_id == connection.id, CrmSyncReject.object == obj.name,
                       CrmSyncReject.crm_id.in_([i for i in chunk if i not in still]),
                       CrmSyncReject.resolved_at.is_(None))
                .values(resolved_at=work.now)
            )  # fmt: skip
            _store_rejects(work, connection.id, report.run_id, obj.name, rejects)
            if work.data_tables:
                work.record("crm_sync_retry", obj.table, None, None,
                            {"connection": connection.name, "object": obj.name, "asked": len(chunk),
                             "still_rejected": len(still)})  # fmt: skip


def _reconcile(engine, connection, obj: CrmObject, seen: Iterable[int], report: SyncReport, actor, origin) -> dict:
    """After a full read: truce records of this object the CRM did not list are marked deleted."""
    counts = report.objects[obj.name]
    missing = removals.missing_from(engine, obj.table, obj.dialect, seen, obj.id_prefix)
    if missing:
        with unit_of_work(engine, actor, origin) as work:
            marked = removals.soft_delete(work, obj.table, obj.dialect, missing)
            report.add(obj.name, "deleted", marked)
    return {
        "differed": counts["updated"],
        "new_in_truce": counts["inserted"],
        "missing_in_crm": len(missing),
        "missing_ids": sorted(missing)[:50],
    }


def pull_records(
    engine: Engine,
    config: TruceConfig,
    name: str,
    object_name: str,
    crm_ids: list[str],
    *,
    actor: str = "webhook",
    origin: str = "webhook",
    connector: Connector | None = None,
) -> SyncReport:
    """Pull these records of one object now (a webhook said they changed), outside the cursor.

    The cursor is left alone: the next scheduled sync reads them again and finds nothing to change.
    Deleted and merged ones come back from the connector as such and are marked.
    """
    connection = connections.get(engine, name)
    if not connection.active:
        raise SyncRefused(f"the connection {name!r} was revoked")
    connector = connector or open_connector(connection, config, engine)
    report = SyncReport(connection.name, connection.system, False)
    try:
        obj = next((o for o in connector.objects() if o.name == object_name), None)
        if obj is None:
            known = ", ".join(o.name for o in connector.objects())
            raise SyncRefused(f"{connection.system} has no object {object_name!r} truce reads; known: {known}")
        for start in range(0, len(crm_ids), 100):
            page = connector.fetch(obj, list(crm_ids[start : start + 100]))
            page.cursor = page.position = None
            with unit_of_work(engine, actor, origin) as work:
                source = f"{connection.system} {obj.name}"
                _, rejects = write_records(work, config, connection, obj, page, report, actor, source)
                _store_rejects(work, connection.id, None, obj.name, rejects)
                if work.data_tables:
                    work.record("crm_pull", obj.table, None, None,
                                {"connection": connection.name, "object": obj.name, "crm_ids": page.seen[:100]})  # fmt: skip
            report.rejects.extend({"object": obj.name, "crm_id": r[0], "reason": r[1]} for r in rejects)
    finally:
        connector.close()
    report.status = "ok"
    return report
