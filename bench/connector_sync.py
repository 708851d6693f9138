"""Benchmark: a full HubSpot sync against the file import of the same rows, in the same run.

    python bench/connector_sync.py                      # 1,000,000 contacts, 4,000,000 engagements
    python bench/connector_sync.py --contacts 20000     # a smoke run
    python bench/connector_sync.py --json

What is measured, each in its own child process on a fresh SQLite store (migrated; the 20 HubSpot
owners already loaded as users, not timed), so each child's peak memory is its own:

  file import  truce.imports.service.import_file for contacts, then touchpoints, from CSV files that
               hold exactly the rows the connector makes of the same records (written by calling the
               connector's own record → row functions on the generated records, so the two sides
               load the same rows through the same writers).
  sync         truce.services.connectors.sync.sync(engine, config, "hubspot", full=True) against the
               fake HubSpot server (tests/fakes/hubspot.py) in a process of its own on 127.0.0.1,
               serving records made on the fly from their ids (nothing held in memory), paged as
               HubSpot pages: lists of 100 with `after`, one v4 associations batch read per page, the
               contacts' lifecycle history by batch read.

The server shares the machine's cores with the sync (on a 2-core machine it takes much of one);
the file import has no such neighbour. Figures: rows per second of each side, the ratio sync/file
(target ≥ 0.5), and each child's peak resident memory (target for the sync: ≤ 1 GiB). A wrong result (row counts
or sampled rows differ between the two stores) exits 1; a missed target prints TARGET MISSED and
exits 0 (it is a measurement). The machine's state is sampled before and after each side
(bench/machine.py); a target counts as met only when both sides ran on a quiet machine.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import multiprocessing
import os
import platform
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import machine  # bench/machine.py: this script's own folder is on sys.path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(ROOT / "src")]

OWNERS = 20
ENGAGEMENT_OBJECTS = ("emails", "calls", "meetings", "notes")
ENGAGEMENT_BASE = 10_000_000  # engagement ids start here, apart from contact ids
START = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SPEED_TARGET = 0.5
MEMORY_TARGET_MIB = 1024
TOKEN = "pat-bench-token"


# -- records made from their ids ---------------------------------------------------------------


def _iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _at(seconds: int) -> str:
    return _iso(START + dt.timedelta(seconds=seconds))


class GeneratedRecords:
    """The fake server's Records (tests/fakes/hubspot.py) for N contacts and 4N engagements, made on
    the fly: contact i (1..N) and engagement k of each of the four kinds (1..N), whose one contact
    is ((k * 7919) mod N) + 1."""

    def __init__(self, contacts: int):
        self.n = contacts

    def contact(self, i: int) -> dict:
        created = _at(i * 20)
        return {
            "id": str(i),
            "properties": {
                "hs_object_id": str(i), "email": f"person{i}@company{i % 50_000}.example",
                "firstname": f"First{i % 997}", "lastname": f"Last{i}", "jobtitle": ("Buyer", "CFO", "IT lead")[i % 3],
                "lifecyclestage": "lead", "hubspot_owner_id": str(1 + i % OWNERS), "createdate": created,
                "lastmodifieddate": created,
            },
            "history": {"lifecyclestage": [{"value": "lead", "timestamp": created, "sourceType": "FORM"}]},
            "createdAt": created, "updatedAt": created, "archived": False,
        }  # fmt: skip

    def engagement(self, object_name: str, k: int) -> dict:
        kind = ENGAGEMENT_OBJECTS.index(object_name)
        crm_id = ENGAGEMENT_BASE * (kind + 1) + k
        when = _at(k * 20 + 3600 * (kind + 1))
        return {
            "id": str(crm_id),
            "properties": {"hs_object_id": str(crm_id), "hs_timestamp": when, "hs_lastmodifieddate": when,
                           "hubspot_owner_id": str(1 + k % OWNERS), "createdate": when},
            "history": {}, "createdAt": when, "updatedAt": when, "archived": False,
        }  # fmt: skip

    def contact_of(self, k: int) -> int:
        return (k * 7919) % self.n + 1

    def _record(self, object_name: str, number: int) -> dict:
        if object_name == "contacts":
            return self.contact(number)
        return self.engagement(object_name, number)

    def _number(self, object_name: str, crm_id: str) -> int | None:
        value = int(crm_id)
        if object_name != "contacts":
            value -= ENGAGEMENT_BASE * (ENGAGEMENT_OBJECTS.index(object_name) + 1)
        return value if 1 <= value <= self.n else None

    # -- the Records interface ---------------------------------------------------------------------

    def search(self, object_name, query):
        return 0, []  # a full sync lists; it never searches

    def listing(self, object_name, after, limit, archived):
        if archived or object_name not in ("contacts", *ENGAGEMENT_OBJECTS):
            return [], None
        first = int(after) if after else 1
        last = min(first + limit - 1, self.n)
        page = [self._record(object_name, number) for number in range(first, last + 1)]
        following = last + 1 if last < self.n else None
        if following is not None and object_name != "contacts":
            following = following  # `after` is the next record's number, as the fake's MemoryRecords does by id
        return page, (str(following) if following is not None else None)

    def read(self, object_name, ids):
        numbers = [self._number(object_name, crm_id) for crm_id in ids]
        return [self._record(object_name, number) for number in numbers if number is not None]

    def associations(self, from_object, to_object, from_id):
        if from_object in ENGAGEMENT_OBJECTS and to_object == "contacts":
            number = self._number(from_object, from_id)
            if number is None:
                return []
            kinds = [{"category": "HUBSPOT_DEFINED", "typeId": 0, "label": None}]
            return [{"toObjectId": self.contact_of(number), "associationTypes": kinds}]
        return []

    def owners(self):
        return [
            {"id": str(i), "email": f"owner{i}@yourco.example", "firstName": "Owner", "lastName": str(i),
             "userId": 9000 + i, "createdAt": _at(0), "updatedAt": _at(0), "archived": False, "teams": []}
            for i in range(1, OWNERS + 1)
        ]  # fmt: skip

    def pipelines(self, object_name):
        from tests.fakes.hubspot import DEFAULT_PIPELINE

        return [DEFAULT_PIPELINE]

    def update(self, object_name, crm_id, properties, at):
        return None


# -- the fake server, in a process of its own -----------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _serve(port: int, contacts: int) -> None:
    import uvicorn

    from tests.fakes.hubspot import FakeHubSpot

    crm = FakeHubSpot(token=TOKEN, records=GeneratedRecords(contacts))
    crm.requests = _Forget()  # a benchmark's millions of requests are not kept
    uvicorn.run(crm.app(), host="127.0.0.1", port=port, log_level="warning", access_log=False)


class _Forget(list):
    def append(self, item) -> None:
        pass


def _wait_for(port: int, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"the fake HubSpot server did not start on port {port}")


# -- the files the import reads: the connector's rows of the same records -------------------------


def _config():
    from truce.config import Connectors, CrmConnector, default_text, parse

    config = parse(default_text())
    return config.model_copy(update={"connectors": Connectors(hubspot=CrmConnector(default_team="sales"))})


def write_files(contacts: int, out: Path) -> dict[str, Path]:
    """contacts.csv and touchpoints.csv: the rows HubSpotConnector makes of the generated records."""
    from truce.services.connectors.hubspot import history, objects
    from truce.services.connectors.hubspot.objects import SPECS

    records = GeneratedRecords(contacts)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"contacts": out / "contacts.csv", "touchpoints": out / "touchpoints.csv"}
    with open(paths["contacts"], "w", newline="", encoding="utf-8") as handle:
        writer = None
        for i in range(1, contacts + 1):
            record = records.contact(i)
            shaped = {**record, "propertiesWithHistory": {"lifecyclestage": list(reversed(record["history"]["lifecyclestage"]))}}
            dated = history.of_records({"results": [shaped]}).get(str(i), {})
            row = objects.contact_row(record, None, dated)
            if writer is None:
                writer = csv.DictWriter(handle, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
    with open(paths["touchpoints"], "w", newline="", encoding="utf-8") as handle:
        writer = None
        for object_name in ENGAGEMENT_OBJECTS:
            spec = SPECS[object_name]
            for k in range(1, contacts + 1):
                for row in objects.touch_rows(spec, records.engagement(object_name, k), [str(records.contact_of(k))]):
                    if writer is None:
                        writer = csv.DictWriter(handle, fieldnames=list(row))
                        writer.writeheader()
                    writer.writerow(row)
    return paths


# -- the two sides, each in a child process ----------------------------------------------------------


def _fresh_store(path: Path) -> None:
    """A migrated store with the owners as users (not timed): both sides start from it."""
    from truce.services.connectors.hubspot import objects
    from truce.store import db
    from truce.store.work import unit_of_work

    path.unlink(missing_ok=True)
    engine = db.connect(f"sqlite:///{path}")
    db.upgrade(engine)
    from truce.imports.rows import import_rows

    owners = [objects.owner_row(o, "sales") for o in GeneratedRecords(1).owners()]
    with unit_of_work(engine, "bench", "import") as work:
        import_rows(work.conn, "users", "hubspot", owners, _config(), actor="bench", now=work.now, source="bench owners")
        work.record("bench_owners", "users", None, None, {"owners": len(owners)})
    engine.dispose()


def _peak_mib() -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def child_file_import(store: str, contacts_csv: str, touches_csv: str) -> dict:
    from truce.imports.service import Options, import_file
    from truce.store import db

    engine = db.connect(f"sqlite:///{store}")
    config = _config()
    started = time.perf_counter()
    rows = 0
    for table, path in (("contacts", contacts_csv), ("touchpoints", touches_csv)):
        with open(path, encoding="utf-8") as handle:
            header = next(csv.reader(handle))
        mapping = {name: name for name in header if not name.lower().startswith("became")}
        report = import_file(engine, table, path, config, Options(dialect="hubspot", mapping=mapping, actor="bench"))
        rows += report.inserted
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows, "peak_mib": _peak_mib()}


def child_sync(store: str, base_url: str) -> dict:
    from truce.services.connectors import connections
    from truce.services.connectors.sync import sync
    from truce.store import db

    os.environ["BENCH_HUBSPOT_TOKEN"] = TOKEN
    engine = db.connect(f"sqlite:///{store}")
    config = _config()
    connections.connect(engine, config, connections.Request("hubspot", base_url=base_url,
                        secret_env="BENCH_HUBSPOT_TOKEN"), actor="bench")  # fmt: skip
    started = time.perf_counter()
    report = sync(engine, config, "hubspot", full=True, actor="bench")
    seconds = time.perf_counter() - started
    totals = report.totals()
    return {"seconds": seconds, "rows": totals["inserted"], "rejected": totals["rejected"], "pages": totals["pages"],
            "peak_mib": _peak_mib()}  # fmt: skip


def _run_child(kind: str, *args: str) -> dict:
    command = [sys.executable, __file__, "--child", kind, *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the same rows on both sides -------------------------------------------------------------------


def _compare(file_store: Path, sync_store: Path, contacts: int) -> list[str]:
    problems = []
    queries = {
        "contacts": "SELECT count(*) FROM contacts",
        "touchpoints": "SELECT count(*) FROM touchpoints",
        "ledger": "SELECT count(*) FROM stage_changes",
        "sales touches": "SELECT count(*) FROM touchpoints WHERE kind = 'sales'",
    }
    with sqlite3.connect(file_store) as a, sqlite3.connect(sync_store) as b:
        for name, query in queries.items():
            left, right = a.execute(query).fetchone()[0], b.execute(query).fetchone()[0]
            if left != right:
                problems.append(f"{name}: file import {left:,}, sync {right:,}")
        expected = {"contacts": contacts, "touchpoints": 4 * contacts}
        for name, wanted in expected.items():
            got = b.execute(queries[name]).fetchone()[0]
            if got != wanted:
                problems.append(f"{name}: the sync holds {got:,}, the fake served {wanted:,}")
        sample = "SELECT hubspot_id, email, first_name, last_name, stage, owner_id FROM contacts WHERE hubspot_id IN ({})"
        ids = ",".join(f"'{i}'" for i in range(1, contacts + 1, max(1, contacts // 25)))
        if sorted(a.execute(sample.format(ids)).fetchall()) != sorted(b.execute(sample.format(ids)).fetchall()):
            problems.append("sampled contacts differ between the two stores")
        touches = "SELECT external_id, contact_id, kind, channel, touch_type, occurred_at FROM touchpoints ORDER BY external_id LIMIT 50"
        if a.execute(touches).fetchall() != b.execute(touches).fetchall():
            problems.append("sampled touches differ between the two stores")
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--out", type=Path, default=HERE / "out" / "connector_sync")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        result = child_file_import(*rest) if kind == "file" else child_sync(*rest)
        print(json.dumps(result))
        return
    n, out = args.contacts, args.out
    out.mkdir(parents=True, exist_ok=True)
    marker = out / "files-for.txt"
    if marker.exists() and marker.read_text() == str(n):  # the same rows as a run before: not written again
        paths = {"contacts": out / "contacts.csv", "touchpoints": out / "touchpoints.csv"}
    else:
        print(f"writing the files for {n:,} contacts and {4 * n:,} engagements …", file=sys.stderr)
        paths = write_files(n, out)
        marker.write_text(str(n))
    file_store, sync_store = out / "file.db", out / "sync.db"
    _fresh_store(file_store)
    _fresh_store(sync_store)
    print("file import …", file=sys.stderr)
    with machine.measured("file import") as on_file:
        file_side = _run_child("file", str(file_store), str(paths["contacts"]), str(paths["touchpoints"]))
    port = _free_port()
    server = multiprocessing.get_context("spawn").Process(target=_serve, args=(port, n), daemon=True)
    server.start()
    try:
        _wait_for(port)
        print("sync …", file=sys.stderr)
        with machine.measured("sync") as on_sync:  # the fake server is this benchmark's own process too
            sync_side = _run_child("sync", str(sync_store), f"http://127.0.0.1:{port}")
    finally:
        server.terminate()
        server.join(5)
    problems = _compare(file_store, sync_store, n)
    rows = 5 * n
    file_rate, sync_rate = rows / file_side["seconds"], rows / sync_side["seconds"]
    ratio = sync_rate / file_rate
    records = [on_file.record, on_sync.record]
    state = machine.overall(records)
    speed_met, memory_met = ratio >= SPEED_TARGET, sync_side["peak_mib"] <= MEMORY_TARGET_MIB
    result = {
        "contacts": n, "engagements": 4 * n, "rows": rows, "file_import": file_side, "sync": sync_side,
        "file_rows_per_second": round(file_rate), "sync_rows_per_second": round(sync_rate),
        "ratio_sync_to_file": round(ratio, 3), "speed_target": SPEED_TARGET,
        "memory_target_mib": MEMORY_TARGET_MIB, "problems": problems,
        "speed_verdict": machine.verdict(speed_met, state["machine"]),
        "memory_verdict": machine.verdict(memory_met, state["machine"]),
        "load_average_before": records[0]["before"]["load_1min"], "load_average_after": records[-1]["after"]["load_1min"],
        "host": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        **state, "machine_states": records,
    }  # fmt: skip
    (out / "result.json").write_text(json.dumps(result, indent=2), encoding="utf-8")
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"rows: {rows:,} ({n:,} contacts, {4 * n:,} engagements)")
        print(f"file import  {file_side['seconds']:8.1f} s  {file_rate:10,.0f} rows/s  peak {file_side['peak_mib']:6.0f} MiB")
        print(f"sync --full  {sync_side['seconds']:8.1f} s  {sync_rate:10,.0f} rows/s  peak {sync_side['peak_mib']:6.0f} MiB"
              f"  ({sync_side['pages']:,} pages)")  # fmt: skip
        print(f"sync / file  {ratio:.2f}x  (target ≥ {SPEED_TARGET}x): {result['speed_verdict']}")
        print(f"sync peak    {sync_side['peak_mib']:.0f} MiB  (target ≤ {MEMORY_TARGET_MIB} MiB): {result['memory_verdict']}")
        for record in records:
            print(f"machine: {machine.describe(record)}")
        print(machine.summary(state))
    # The memory target is the sync's (the "memory flat"); the import's peak is reported beside it.
    if not (speed_met and memory_met):
        print("TARGET MISSED" + ("" if state["machine"] == "quiet" else " (on a busy machine: not counted)"), file=sys.stderr)
    if problems:
        print("WRONG RESULT: " + "; ".join(problems), file=sys.stderr)
        raise SystemExit(1)


if __name__ == "__main__":
    main()
