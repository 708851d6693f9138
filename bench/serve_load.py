"""Benchmark: `truce serve` under load — the main JSON reports at 50 concurrent clients, and ingestion.

    python bench/serve_load.py                # the demo at 100,000 contacts (built once), 50 clients
    python bench/serve_load.py --quick        # 10,000 contacts, 10 clients, short phases: a smoke run
    python bench/serve_load.py --json         # the figures as JSON too (bench/out/serve_load.json)
    python bench/serve_load.py --pg --workers 4 --clients 100 --import-rows 0
                                              # several worker processes on PostgreSQL ($TRUCE_TEST_DATABASE_URL)

The server is the real one: `truce serve` in its own process on 127.0.0.1, over a copy of the
demo store (SQLite, the embedded default), with an API token for a RevOps user. The clients
are this process: a small asyncio HTTP/1.1 client of our own with keep-alive connections, so
the load generator costs little of the two cores it shares with the server.

Phases, in order:

  floor     every client asks GET /api/v1/config/funnel (authenticated, no computation):
            the baseline — what the framework, the token check and the network cost.
  cold      each main report once, one at a time: the computation a report costs when the
            data has just changed (the first reader after a write waits for it).
  reports   every client asks the main reports round robin, back to back, for --seconds:
            p50 / p99 latency and throughput. Targets: p99 < 200 ms, no errors.
  ingest    one pusher sends --batches batches of 10,000 new touchpoints, then sends the last
            batch again (it must change nothing). Baseline: the same rows inserted into a copy
            of the store by sqlite3 `executemany` in one transaction per batch (no checks, no
            scoring, no audit). Target: at least 5,000 touchpoints a second, no errors.
  mixed     the report clients again while the pusher keeps ingesting (no target): every batch
            changes the data, so readers after it wait for a fresh computation.
  writers   --writers clients each add feedback back to back (POST /api/v1/feedback) while the
            report clients read, for --seconds: the baseline for the next phase.
  import    the same readers and writers while RevOps runs `truce import touchpoints` on a file
            of --import-rows new touchpoints in another process (300,000 by default). The import
            commits batch by batch and lets waiting writers go first between batches. Targets:
            no errors, writers' p99 under 2 s (printed as a ratio to the writers phase too).

  funnel    (with --workers above 1) every report client keeps its connection and asks for the
            funnel config; one more connection saves an edit of it (PUT /api/v1/config/funnel).
            Measured: the time from the edit's answer until every connection has seen it. The
            kernel spreads the connections over the workers, so 100 of them reach all of 4 (a
            worker that got none would go unmeasured). Target: under 1 s.

With --workers N the server is `truce serve --workers N` (docs/deploy.md). With --pg (the server
named by $TRUCE_TEST_DATABASE_URL) or --pg-url, the store is a PostgreSQL database: the demo is
built once into `truce_bench_serve_<contacts>_<seed>` and each run works on a copy of it
(CREATE DATABASE … TEMPLATE); the ingest baseline is psycopg `executemany` into another copy; the
import phase runs on SQLite only. Targets with --workers above 1: reports p99 under 200 ms,
ingest at least 10,000 touchpoints a second (--pushers connections push at once).

A wrong answer (a status other than 200, an idempotent re-send that changed something) is an
error: errors are counted, printed, and make the exit code 1. A missed target prints
"TARGET MISSED" (exit code 0: it is a measurement). The machine's state is sampled before and
after the baseline and each phase (bench/machine.py); the server, the clients and the import are
this benchmark's own processes. A target counts as met only when every phase ran on a quiet machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import machine  # bench/machine.py: this script's own folder is on sys.path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
P99_TARGET_MS = 200.0
WRITER_P99_TARGET_MS = 2000.0
INGEST_TARGET = 5_000.0
WORKERS_INGEST_TARGET = 10_000.0
PROPAGATION_TARGET_S = 1.0
BATCH = 10_000
MAIN_REPORTS = (
    "/api/v1/reports/funnel",
    "/api/v1/reports/sla",
    "/api/v1/reports/attribution",
    "/api/v1/reports/roi",
    "/api/v1/reports/budget",
    "/api/v1/reports/pricing",
    "/api/v1/reports/targets",
    "/api/v1/reports/metrics",
    "/api/v1/reports/feedback-themes",
    "/api/v1/reports/brief",
)
FLOOR = "/api/v1/config/funnel"


# ---- a small HTTP/1.1 client ----------------------------------------------------------------------


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive connection; requests on it go one after another, as a browser tab's would."""

    def __init__(self, host: str, port: int, token: str):
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port, limit=1 << 20)
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Authorization: Bearer {self.token}\r\nAccept: application/json\r\n"
        )
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        return await self._response()

    async def _response(self) -> tuple[int, dict[str, str], bytes]:
        lines = (await self.reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding") == "chunked":
            body = await self._chunked()
        else:
            raise HttpError(f"a response without a length: {lines[0]}")
        return status, headers, body

    async def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            parts.append(await self.reader.readexactly(size + 2))
            if size == 0:
                return b"".join(parts)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ---- measuring ------------------------------------------------------------------------------------


@dataclass
class Phase:
    name: str
    latencies_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    cache: dict[str, int] = field(default_factory=dict)

    def summary(self) -> dict:
        lat = sorted(self.latencies_ms)
        return {
            "phase": self.name,
            "requests": len(lat),
            "errors": len(self.errors),
            "seconds": round(self.seconds, 2),
            "throughput_per_s": round(len(lat) / self.seconds, 1) if self.seconds else None,
            "p50_ms": round(_quantile(lat, 0.50), 2) if lat else None,
            "p99_ms": round(_quantile(lat, 0.99), 2) if lat else None,
            "max_ms": round(lat[-1], 2) if lat else None,
            "cache": dict(self.cache),
        }


def _quantile(ordered: list[float], q: float) -> float:
    """The q-quantile by linear interpolation between closest ranks (numpy's default)."""
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


async def _client(host, port, token, paths, offset, until, phase: Phase) -> None:
    connection = Connection(host, port, token)
    index = offset
    try:
        while time.perf_counter() < until:
            path = paths[index % len(paths)]
            index += 1
            started = time.perf_counter()
            try:
                status, headers, body = await connection.request("GET", path)
            except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
                phase.errors.append(f"{path}: {type(exc).__name__}: {exc}")
                await connection.close()
                connection = Connection(host, port, token)
                continue
            phase.latencies_ms.append((time.perf_counter() - started) * 1000)
            state = headers.get("x-truce-cache", "none")
            phase.cache[state] = phase.cache.get(state, 0) + 1
            if status != 200:
                phase.errors.append(f"{path}: HTTP {status}: {body[:200]!r}")
    finally:
        await connection.close()


async def _writer(host, port, token, number: int, until, phase: Phase) -> None:
    connection = Connection(host, port, token)
    sent = 0
    try:
        while until():
            body = json.dumps({"text": f"bench writer {number} note {sent}", "kind": "other"}).encode()
            started = time.perf_counter()
            try:
                status, _, answer = await connection.request("POST", "/api/v1/feedback", body)
            except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
                phase.errors.append(f"feedback: {type(exc).__name__}: {exc}")
                await connection.close()
                connection = Connection(host, port, token)
                continue
            phase.latencies_ms.append((time.perf_counter() - started) * 1000)
            sent += 1
            if status != 201:
                phase.errors.append(f"feedback: HTTP {status}: {answer[:200]!r}")
    finally:
        await connection.close()


async def readers_and_writers(name, host, port, token, clients, writers, until) -> tuple[Phase, Phase]:
    """Report readers and feedback writers side by side until `until()` says stop."""
    reading, writing = Phase(f"{name} readers"), Phase(f"{name} writers")
    started = time.perf_counter()

    async def reader(offset):
        while until():
            await _client(host, port, token, MAIN_REPORTS, offset, min(time.perf_counter() + 1.0, 1e18), reading)

    await asyncio.gather(
        *(reader(i) for i in range(clients)), *(_writer(host, port, token, n, until, writing) for n in range(writers))
    )
    reading.seconds = writing.seconds = time.perf_counter() - started
    return reading, writing


def import_file_rows(copy: Path, rows: int, seed: int, folder: Path) -> Path:
    """A CSV of `rows` new touchpoints on the demo's contacts and campaigns, as a CRM export would be."""
    import csv

    with sqlite3.connect(copy) as con:
        emails = [row[0] for row in con.execute("SELECT email FROM contacts WHERE email IS NOT NULL")]
        campaigns = [row[0] for row in con.execute("SELECT external_id FROM campaigns WHERE external_id IS NOT NULL")]
    rng = random.Random(seed + 1)
    path = folder / f"import-{rows}.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["external_id", "contact_email", "campaign_external_id", "touch_type", "occurred_at"])
        for i in range(rows):
            out.writerow(
                [f"import-{seed}-{i}", rng.choice(emails), rng.choice(campaigns),
                 rng.choice(("form", "webinar", "email_click", "ad_click", "event")),
                 f"2026-10-{rng.randint(1, 30):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z"]
            )  # fmt: skip
    return path


async def during_import(args, host, port, token, copy: Path, path: Path, folder: Path) -> dict:
    log = (folder / "import.log").open("w")
    started = time.perf_counter()
    importer = subprocess.Popen(
        [*truce_command(), "import", "touchpoints", str(path), "--db", f"sqlite:///{copy}", "--json"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        reading, writing = await readers_and_writers(
            "import", host, port, token, args.clients, args.writers, lambda: importer.poll() is None
        )
        code = importer.wait()
    finally:
        if importer.poll() is None:
            importer.kill()
        log.close()
    seconds = time.perf_counter() - started
    errors = reading.errors + writing.errors + ([f"import exited {code}: see {folder / 'import.log'}"] if code else [])
    return {
        "rows": args.import_rows,
        "seconds": round(seconds, 2),
        "rows_per_s": round(args.import_rows / seconds, 1),
        "readers": reading.summary(),
        "writers": writing.summary(),
        "error_samples": errors[:10],
        "errors": len(errors),
    }


async def run_readers(name, host, port, token, paths, clients, seconds) -> Phase:
    phase = Phase(name)
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(*(_client(host, port, token, paths, i, until, phase) for i in range(clients)))
    phase.seconds = time.perf_counter() - started
    return phase


async def cold_reports(host, port, token, paths) -> dict[str, float]:
    connection = Connection(host, port, token)
    seconds = {}
    for path in paths:
        started = time.perf_counter()
        status, headers, body = await connection.request("GET", path)
        seconds[path] = round(time.perf_counter() - started, 3)
        if status != 200:
            raise SystemExit(f"{path} answered {status}: {body[:300]!r}")
    await connection.close()
    return seconds


@dataclass
class Pushed:
    rates: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    touchpoints: int = 0
    seconds: float = 0.0


async def push(host, port, token, batches: list[bytes], pushed: Pushed, until: float | None = None) -> None:
    connection = Connection(host, port, token)
    started = time.perf_counter()
    for body in batches:
        if until is not None and time.perf_counter() >= until:
            break
        t0 = time.perf_counter()
        status, _, answer = await connection.request("POST", "/api/v1/ingest/touchpoints", body)
        took = time.perf_counter() - t0
        if status != 200:
            pushed.errors.append(f"ingest: HTTP {status}: {answer[:300]!r}")
            continue
        result = json.loads(answer)
        if result["inserted"] != BATCH:
            pushed.errors.append(f"ingest: inserted {result['inserted']} of {BATCH} new touchpoints")
        pushed.rates.append(BATCH / took)
        pushed.touchpoints += BATCH
    pushed.seconds = time.perf_counter() - started
    await connection.close()


async def push_all(host, port, token, batches: list[bytes], pushers: int, until: float | None = None) -> Pushed:
    """The batches pushed over `pushers` connections at once, dealt round robin; the rate is over the whole."""
    shares = [Pushed() for _ in range(pushers)]
    started = time.perf_counter()
    await asyncio.gather(*(push(host, port, token, batches[i::pushers], shares[i], until) for i in range(pushers)))
    whole = Pushed(seconds=time.perf_counter() - started)
    for share in shares:
        whole.rates += share.rates
        whole.errors += share.errors
        whole.touchpoints += share.touchpoints
    return whole


async def funnel_propagation(host, port, token, clients: int) -> dict:
    """Seconds from a funnel edit's answer until each of `clients` kept-alive connections (spread over
    the workers by the kernel) is served the edited funnel; see the module's `funnel` phase."""
    from truce import config as truce_config
    from truce.services.funnel_config import sections_of

    label = f"Inquiry (bench edit {time.time():.0f})"
    body = sections_of(truce_config.parse(truce_config.default_text()))
    body["funnel"]["stages"][0]["label"] = label
    connections = [Connection(host, port, token) for _ in range(clients)]
    errors: list[str] = []
    await asyncio.gather(*(c.request("GET", FLOOR) for c in connections))  # each on its worker before the edit
    editor = Connection(host, port, token)
    status, _, answer = await editor.request("PUT", "/api/v1/config/funnel", json.dumps(body).encode())
    edited = time.perf_counter()
    await editor.close()
    if status != 200:
        return {"errors": 1, "error_samples": [f"funnel edit: HTTP {status}: {answer[:300]!r}"]}

    async def until_seen(connection: Connection) -> float | None:
        while time.perf_counter() - edited < 10:
            status, _, answer = await connection.request("GET", FLOOR)
            if status != 200:
                errors.append(f"funnel: HTTP {status}: {answer[:200]!r}")
            elif json.loads(answer)["stages"][0]["label"] == label:
                return time.perf_counter() - edited
            await asyncio.sleep(0.01)
        errors.append("a connection was still served the old funnel 10 s after the edit")
        return None

    seen = await asyncio.gather(*(until_seen(c) for c in connections))
    for connection in connections:
        await connection.close()
    took = sorted(s for s in seen if s is not None)
    return {
        "connections": clients,
        "seen_by_all_s": round(took[-1], 3) if len(took) == clients else None,
        "median_s": round(_quantile(took, 0.5), 3) if took else None,
        "errors": len(errors),
        "error_samples": errors[:5],
    }


async def resend(host, port, token, body: bytes) -> list[str]:
    connection = Connection(host, port, token)
    status, _, answer = await connection.request("POST", "/api/v1/ingest/touchpoints", body)
    await connection.close()
    if status != 200:
        return [f"re-send: HTTP {status}: {answer[:300]!r}"]
    result = json.loads(answer)
    if result["unchanged"] != BATCH or result["inserted"] or result["updated"]:
        return [f"re-send changed something: {result}"]
    return []


# ---- the store, the server and the batches --------------------------------------------------------


def truce_command() -> list[str]:
    script = Path(sys.executable).with_name("truce")
    return [str(script)] if script.exists() else [sys.executable, "-m", "truce"]


def demo_store(contacts: int, seed: int, out: Path) -> Path:
    """The demo company, built once per size and seed and kept under bench/out/."""
    folder = out / f"serve-{contacts}-{seed}"
    store = folder / "truce.db"
    if not store.exists():
        folder.mkdir(parents=True, exist_ok=True)
        print(f"building the demo company at {contacts:,} contacts (once) …", flush=True)
        partial = folder / "building.db"
        partial.unlink(missing_ok=True)
        subprocess.run(
            [*truce_command(), "demo", "--contacts", str(contacts), "--seed", str(seed), "--db", f"sqlite:///{partial}"],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        partial.rename(store)
    return store


def working_copy(store: Path, folder: Path) -> Path:
    """A fresh copy per run: ingestion writes to it."""
    copy = folder / "run.db"
    for suffix in ("", "-wal", "-shm"):
        Path(f"{copy}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(store, copy)
    # The kept demo may predate a migration of the code being measured.
    subprocess.run([*truce_command(), "db", "upgrade", "--db", f"sqlite:///{copy}"], check=True, stdout=subprocess.DEVNULL)
    return copy


def _admin(pg_url: str):
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    return create_engine(make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT")


def _on(pg_url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(pg_url).set(database=database).render_as_string(hide_password=False)


def pg_demo_store(pg_url: str, contacts: int, seed: int) -> str:
    """The demo company in a PostgreSQL database of its own, built once per size and seed and kept."""
    from sqlalchemy import text

    name, partial = f"truce_bench_serve_{contacts}_{seed}", f"truce_bench_serve_{contacts}_{seed}_building"
    admin = _admin(pg_url)
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            print(f"building the demo company at {contacts:,} contacts in PostgreSQL (once) …", flush=True)
            conn.execute(text(f'DROP DATABASE IF EXISTS "{partial}"'))
            conn.execute(text(f'CREATE DATABASE "{partial}"'))
            subprocess.run(
                [*truce_command(), "demo", "--contacts", str(contacts), "--seed", str(seed), "--db", _on(pg_url, partial)],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            conn.execute(text(f'ALTER DATABASE "{partial}" RENAME TO "{name}"'))
    admin.dispose()
    return name


def pg_copy(pg_url: str, template: str, name: str) -> str:
    """A fresh copy of a database (CREATE DATABASE … TEMPLATE), at the code's schema; its URL."""
    from sqlalchemy import text

    admin = _admin(pg_url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    admin.dispose()
    url = _on(pg_url, name)
    subprocess.run([*truce_command(), "db", "upgrade", "--db", url], check=True, stdout=subprocess.DEVNULL)
    return url


def pg_raw_insert_rate(pg_url: str, run_database: str, batches: list[list[dict]]) -> float:
    """Baseline on PostgreSQL: the same rows by psycopg executemany into a copy of the run's store, no checks."""
    import psycopg
    from sqlalchemy.engine import make_url

    scratch = f"{run_database}_baseline"
    url = make_url(pg_copy(pg_url, run_database, scratch))
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(dsn) as con:
        contact_of = dict(con.execute("SELECT email, id FROM contacts").fetchall())
        campaign_of = {e: (i, ch) for e, i, ch in con.execute("SELECT external_id, id, channel FROM campaigns").fetchall()}
        account_of = dict(con.execute("SELECT id, account_id FROM contacts").fetchall())
        con.commit()
        started = time.perf_counter()
        for batch in batches:
            rows = []
            for item in batch:
                contact = contact_of[item["contact_email"]]
                campaign, channel = campaign_of[item["campaign_external_id"]]
                rows.append(
                    ("baseline-" + item["external_id"], contact, account_of[contact], campaign, channel, "marketing",
                     item["touch_type"], item["occurred_at"])
                )  # fmt: skip
            with con.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO touchpoints (external_id, contact_id, account_id, campaign_id, channel, kind,"
                    " touch_type, occurred_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                    rows,
                )
            con.commit()
        seconds = time.perf_counter() - started
    from sqlalchemy import text

    admin = _admin(pg_url)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'))
    admin.dispose()
    return len(batches) * BATCH / seconds


def api_token(url: str) -> str:
    from truce.services.logins import add_user, create_token
    from truce.store.db import connect

    engine = connect(url)
    add_user(engine, email="bench@example.com", team="revops", actor="bench")
    token = create_token(engine, email="bench@example.com", name="serve_load", actor="bench")
    engine.dispose()
    return token


def touchpoint_batches(url: str, count: int, seed: int) -> list[list[dict]]:
    """`count` batches of 10,000 new touchpoints on the demo's contacts and campaigns."""
    from sqlalchemy import text

    from truce.store.db import connect

    engine = connect(url)
    with engine.connect() as con:
        emails = sorted(row[0] for row in con.execute(text("SELECT email FROM contacts WHERE email IS NOT NULL")))
        campaigns = sorted(
            row[0] for row in con.execute(text("SELECT external_id FROM campaigns WHERE external_id IS NOT NULL"))
        )
    engine.dispose()
    rng = random.Random(seed)
    types = ("form", "webinar", "email_click", "ad_click", "event")
    batches = []
    for b in range(count):
        batches.append(
            [
                {
                    "external_id": f"bench-{seed}-{b}-{i}",
                    "contact_email": rng.choice(emails),
                    "campaign_external_id": rng.choice(campaigns),
                    "touch_type": rng.choice(types),
                    "occurred_at": f"2026-11-{rng.randint(1, 20):02d}T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00Z",
                }
                for i in range(BATCH)
            ]
        )
    return batches


def raw_insert_rate(copy: Path, batches: list[list[dict]], folder: Path) -> float:
    """Baseline: the same rows straight into a copy of the store's touchpoints table, no checks."""
    scratch = folder / "baseline.db"
    scratch.unlink(missing_ok=True)
    shutil.copyfile(copy, scratch)
    with sqlite3.connect(scratch) as con:
        contact_of = dict(con.execute("SELECT email, id FROM contacts"))
        campaign_of = {ext: (cid, channel) for ext, cid, channel in con.execute("SELECT external_id, id, channel FROM campaigns")}
        account_of = dict(con.execute("SELECT id, account_id FROM contacts"))
    con = sqlite3.connect(scratch)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    started = time.perf_counter()
    for batch in batches:
        rows = []
        for item in batch:
            contact = contact_of[item["contact_email"]]
            campaign, channel = campaign_of[item["campaign_external_id"]]
            rows.append(
                ("baseline-" + item["external_id"], contact, account_of[contact], campaign, channel, "marketing",
                 item["touch_type"], item["occurred_at"].replace("T", " ").replace("Z", ".000000"))
            )
        with con:
            con.executemany(
                "INSERT INTO touchpoints (external_id, contact_id, account_id, campaign_id, channel, kind, touch_type,"
                " occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
    seconds = time.perf_counter() - started
    con.close()
    scratch.unlink(missing_ok=True)
    return len(batches) * BATCH / seconds


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(url: str, port: int, log: Path, workers: int = 1) -> subprocess.Popen:
    """`truce serve` in the store's folder, on the built-in truce.toml: a funnel edit writes the
    folder's truce.toml, removed first so that each run starts from the built-in funnel."""
    folder = log.parent
    (folder / "truce.toml").unlink(missing_ok=True)
    env = {name: value for name, value in os.environ.items() if name not in ("TRUCE_CONFIG", "TRUCE_DATABASE_URL")}
    server = subprocess.Popen(
        [*truce_command(), "serve", "--host", "127.0.0.1", "--port", str(port), "--db", url, "--workers", str(workers)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        cwd=folder,
        env=env,
        start_new_session=True,  # its workers with it: stopped as one group if it will not stop
    )
    deadline = time.time() + 120  # worker processes start slowly on a busy machine
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"truce serve stopped: see {log}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                if workers > 1:
                    time.sleep(5)  # the first worker answers; the others were started with it
                return server
        except OSError:
            time.sleep(0.1)
    stop_server(server)
    raise SystemExit("truce serve did not start within 120 s")


def stop_server(server: subprocess.Popen) -> None:
    """SIGTERM: the supervisor stops its workers and then itself; after 30 s, the whole group is killed."""
    import signal

    server.terminate()
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


# ---- the run --------------------------------------------------------------------------------------


@contextlib.contextmanager
def phase_state(results: dict, name: str):
    """The machine's state before and after a phase, kept in results["machine_states"]."""
    with machine.measured(name) as measured:
        yield
    results["machine_states"].append(measured.record)


async def measure(args, port: int, token: str, batches: list[list[dict]], states: list[dict]) -> dict:
    host = "127.0.0.1"
    bodies = [json.dumps({"items": batch}).encode() for batch in batches]
    results: dict = {"machine_states": states}
    print(f"floor: {args.clients} clients on {FLOOR} for {args.seconds:g} s …", flush=True)
    with phase_state(results, "floor"):
        results["floor"] = (await run_readers("floor", host, port, token, [FLOOR], args.clients, args.seconds)).summary()
    errors: list[str] = []
    if not args.only_import:
        errors += await reports_and_ingest(args, host, port, token, bodies, results)
    elif args.import_rows:  # the reports computed once, so that the writers' baseline is not a cold start
        print("cold: each report computed once …", flush=True)
        with phase_state(results, "cold"):
            results["cold_seconds"] = await cold_reports(host, port, token, MAIN_REPORTS)
    if args.import_rows:
        print(f"writers: {args.clients} readers and {args.writers} writers for {args.seconds:g} s …", flush=True)
        end = time.perf_counter() + args.seconds
        with phase_state(results, "writers"):
            reading, writing = await readers_and_writers(
                "writers", host, port, token, args.clients, args.writers, lambda: time.perf_counter() < end
            )
        results["writers"] = {"readers": reading.summary(), "writers": writing.summary()}
        errors += reading.errors + writing.errors
        print(f"import: {args.import_rows:,} touchpoints imported while they read and write …", flush=True)
        with phase_state(results, "import"):
            results["import"] = await during_import(args, host, port, token, args.copy, args.import_path, args.folder)
    if args.workers > 1:
        print(f"funnel: an edit, and {args.clients} connections until each is served it …", flush=True)
        with phase_state(results, "funnel"):
            results["funnel_edit"] = await funnel_propagation(host, port, token, args.clients)
        errors += results["funnel_edit"]["error_samples"]
        errors += [""] * (results["funnel_edit"]["errors"] - len(results["funnel_edit"]["error_samples"]))
    results["error_samples"] = [e for e in errors + results.get("import", {}).get("error_samples", []) if e][:10]
    results["errors"] = len(errors) + results["floor"]["errors"] + results.get("import", {}).get("errors", 0)
    return results


async def reports_and_ingest(args, host, port, token, bodies, results: dict) -> list[str]:
    """The cold, reports, ingest and mixed phases; their errors."""
    print("cold: each report computed once …", flush=True)
    with phase_state(results, "cold"):
        results["cold_seconds"] = await cold_reports(host, port, token, MAIN_REPORTS)
    if args.workers > 1:
        # Each worker keeps its own cache: every one computes each report once per revision of the data.
        print(f"warm: {args.clients} connections ask each report once, so that every worker has them …", flush=True)
        with phase_state(results, "warm"):
            started = time.perf_counter()
            await asyncio.gather(*(cold_reports(host, port, token, MAIN_REPORTS) for _ in range(args.clients)))
            results["warm_seconds"] = round(time.perf_counter() - started, 2)
    print(f"reports: {args.clients} clients, {len(MAIN_REPORTS)} reports for {args.seconds:g} s …", flush=True)
    with phase_state(results, "reports"):
        reports = await run_readers("reports", host, port, token, MAIN_REPORTS, args.clients, args.seconds)
    results["reports"] = reports.summary()
    print(f"ingest: {len(bodies) - args.mixed_batches} batches of {BATCH:,} touchpoints …", flush=True)
    with phase_state(results, "ingest"):
        pushed = await push_all(host, port, token, bodies[: len(bodies) - args.mixed_batches], args.pushers)
    pushed.errors += await resend(host, port, token, bodies[len(bodies) - args.mixed_batches - 1])
    results["ingest"] = {
        "touchpoints": pushed.touchpoints,
        "seconds": round(pushed.seconds, 2),
        "per_s": round(pushed.touchpoints / pushed.seconds, 1) if pushed.seconds else 0.0,
        "per_batch_per_s": [round(rate) for rate in pushed.rates],
        "errors": len(pushed.errors),
    }
    errors = reports.errors + pushed.errors
    if args.mixed_batches:
        print(f"mixed: {args.clients} clients on the reports while {args.mixed_batches} batches arrive …", flush=True)
        mixed_push = Pushed()
        until = time.perf_counter() + max(args.seconds, 1.0) * 4
        readers = run_readers("mixed", host, port, token, MAIN_REPORTS, args.clients, args.seconds)
        pusher = push(host, port, token, bodies[len(bodies) - args.mixed_batches :], mixed_push, until)
        with phase_state(results, "mixed"):
            mixed, _ = await asyncio.gather(readers, pusher)
        results["mixed"] = mixed.summary() | {
            "ingested": mixed_push.touchpoints,
            "ingest_per_s": round(mixed_push.touchpoints / mixed_push.seconds, 1) if mixed_push.seconds else 0.0,
        }
        errors += mixed.errors + mixed_push.errors
    return errors


def report(results: dict, args) -> bool:
    floor, state = results["floor"], results["machine"]
    print()
    print(f"{'phase':<9} {'requests':>9} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>9} {'errors':>6}  cache")
    for phase in ("floor", "reports", "mixed"):
        if phase in results:
            r = results[phase]
            print(
                f"{phase:<9} {r['requests']:>9,} {r['throughput_per_s']:>8,.0f} {r['p50_ms']:>8.1f} {r['p99_ms']:>8.1f}"
                f" {r['max_ms']:>9.0f} {r['errors']:>6}  {r['cache']}"
            )
    if "reports" in results:
        _report_reads_and_ingest(results, floor)
    missed = []
    if "reports" in results and results["reports"]["p99_ms"] >= P99_TARGET_MS:
        missed.append(f"reports p99 {results['reports']['p99_ms']:.1f} ms ≥ {P99_TARGET_MS:g} ms")
    ingest_target = WORKERS_INGEST_TARGET if args.workers > 1 else INGEST_TARGET
    if "ingest" in results and results["ingest"]["per_s"] < ingest_target:
        missed.append(f"ingest {results['ingest']['per_s']:,.0f}/s < {ingest_target:,.0f}/s")
    if "funnel_edit" in results:
        edit = results["funnel_edit"]
        print(
            f"funnel edit: seen by all {edit.get('connections')} connections after {edit.get('seen_by_all_s')} s"
            f" (median {edit.get('median_s')} s)"
        )
        if edit.get("seen_by_all_s") is None or edit["seen_by_all_s"] >= PROPAGATION_TARGET_S:
            missed.append(f"a funnel edit reached every worker in {edit.get('seen_by_all_s')} s, not < 1 s")
    if "import" in results:
        alone, during = results["writers"]["writers"], results["import"]["writers"]
        imported = results["import"]
        print(
            f"import: {imported['rows']:,} touchpoints in {imported['seconds']:.1f} s ({imported['rows_per_s']:,.0f}/s)"
            f" while {args.writers} writers and {args.clients} readers worked"
        )
        print(
            f"        writers p50 {during['p50_ms']:.0f} ms, p99 {during['p99_ms']:.0f} ms, max {during['max_ms']:.0f} ms,"
            f" {during['requests']:,} writes, {during['errors']} errors"
            f" (without an import: p99 {alone['p99_ms']:.0f} ms → {during['p99_ms'] / alone['p99_ms']:.1f}×)"
        )
        print(f"        readers p99 {imported['readers']['p99_ms']:.0f} ms, {imported['readers']['errors']} errors")
        if during["p99_ms"] >= WRITER_P99_TARGET_MS:
            missed.append(f"writers' p99 during the import {during['p99_ms']:.0f} ms ≥ {WRITER_P99_TARGET_MS:g} ms")
    print()
    for record in results["machine_states"]:
        print(f"machine: {machine.describe(record)}")
    print(machine.summary(results))
    busy = "" if state == "quiet" else " (on a busy machine: not counted)"
    for line in missed:
        print(f"TARGET MISSED: {line}{busy}")
    if not missed:
        met = []
        if "reports" in results:
            met += [f"reports p99 < {P99_TARGET_MS:g} ms at {args.clients} clients", f"ingest ≥ {ingest_target:,.0f}/s"]
        if "funnel_edit" in results:
            met.append(f"a funnel edit seen by every worker < {PROPAGATION_TARGET_S:g} s")
        if "import" in results:
            met.append(f"writers' p99 < {WRITER_P99_TARGET_MS:g} ms during the import")
        print(f"targets ({', '.join(met)}): {machine.verdict(True, state)}")
    results["targets_verdict"] = machine.verdict(not missed, state)
    if results["errors"]:
        print(f"ERRORS: {results['errors']}")
        for sample in results["error_samples"]:
            print(f"  {sample}")
    return results["errors"] == 0


def _report_reads_and_ingest(results: dict, floor: dict) -> None:
    reports, ingest = results["reports"], results["ingest"]
    print()
    print("cold (first computation after a change of the data), seconds:")
    for path, seconds in results["cold_seconds"].items():
        print(f"  {path:<36} {seconds:>8.2f}")
    if "warm_seconds" in results:
        print(f"  every worker computing its own copy of each (warm phase): {results['warm_seconds']:.1f} s")
    ratio = reports["p99_ms"] / floor["p99_ms"]
    print()
    print(f"reports p99 / floor p99: {ratio:.2f}×   (floor p99 {floor['p99_ms']:.1f} ms)")
    print(
        f"ingest: {ingest['touchpoints']:,} touchpoints in {ingest['seconds']:.1f} s = {ingest['per_s']:,.0f}/s"
        f"  per batch {ingest['per_batch_per_s']}"
    )
    print(
        f"        vs {results['raw_insert_how']} of the same rows {results['raw_insert_per_s']:,.0f}/s"
        f" = {ingest['per_s'] / results['raw_insert_per_s']:.2f}× the bare insert"
    )
    if "mixed" in results:
        m = results["mixed"]
        print(f"mixed: reports p50 {m['p50_ms']:.0f} ms, p99 {m['p99_ms']:.0f} ms while ingesting {m['ingest_per_s']:,.0f}/s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each load phase")
    parser.add_argument("--batches", type=int, default=10, help="ingest batches of 10,000 touchpoints")
    parser.add_argument("--mixed-batches", type=int, default=3, help="batches sent during the mixed phase (0: skip it)")
    parser.add_argument("--writers", type=int, default=5, help="feedback writers in the writers and import phases")
    parser.add_argument("--import-rows", type=int, default=300_000, help="touchpoints imported in the import phase (0: skip)")
    parser.add_argument("--only-import", action="store_true", help="skip the other phases (floor still runs)")
    parser.add_argument("--quick", action="store_true", help="10,000 contacts, 10 clients, 5 s phases, 3 batches")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--workers", type=int, default=1, help="truce serve --workers N (adds the funnel phase above 1)")
    parser.add_argument("--pushers", type=int, default=1, help="connections pushing ingest batches at once")
    parser.add_argument("--pg", action="store_true", help="on PostgreSQL, the server $TRUCE_TEST_DATABASE_URL names")
    parser.add_argument("--pg-url", help="on PostgreSQL, this server (any database name in it is not used)")
    args = parser.parse_args()
    if args.quick:
        args.contacts, args.clients, args.seconds, args.batches, args.mixed_batches = 10_000, 10, 5.0, 3, 1
        args.import_rows = 30_000
    if args.pg and not args.pg_url:
        args.pg_url = os.environ.get("TRUCE_TEST_DATABASE_URL") or parser.error("--pg: $TRUCE_TEST_DATABASE_URL is not set")
    if args.pg_url:
        args.import_rows = 0  # the import phase works on a SQLite copy
        folder = args.out / f"serve-pg-{args.contacts}-{args.seed}"
        folder.mkdir(parents=True, exist_ok=True)
        template = pg_demo_store(args.pg_url, args.contacts, args.seed)
        url = pg_copy(args.pg_url, template, f"{template}_run")
        token = api_token(url)
        batches = touchpoint_batches(url, args.batches + args.mixed_batches, args.seed)
        with machine.measured("baseline: psycopg executemany") as baseline:
            raw = pg_raw_insert_rate(args.pg_url, f"{template}_run", batches[: args.batches])
        raw_how = "psycopg executemany"
    else:
        store = demo_store(args.contacts, args.seed, args.out)
        folder = store.parent
        copy = working_copy(store, folder)
        url = f"sqlite:///{copy}"
        token = api_token(url)
        batches = touchpoint_batches(url, args.batches + args.mixed_batches, args.seed)
        with machine.measured("baseline: sqlite3 executemany") as baseline:
            raw = raw_insert_rate(copy, batches[: args.batches], folder)
        raw_how = "sqlite3 executemany"
        args.copy = copy
    args.folder = folder
    args.import_path = import_file_rows(args.copy, args.import_rows, args.seed, folder) if args.import_rows else None
    port = free_port()
    server = start_server(url, port, folder / "server.log", args.workers)
    try:
        results = asyncio.run(measure(args, port, token, batches, [baseline.record]))
    finally:
        stop_server(server)
    results["raw_insert_per_s"] = round(raw, 1)
    results["raw_insert_how"] = raw_how
    results["setup"] = {
        "store": "postgresql" if args.pg_url else "sqlite",
        "workers": args.workers,
        "pushers": args.pushers,
        "contacts": args.contacts,
        "clients": args.clients,
        "seconds_per_phase": args.seconds,
        "batches": args.batches,
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "load_average": results["machine_states"][-1]["after"]["load_1min"],  # 1-minute, after the last phase
    }
    results |= machine.overall(results["machine_states"])
    ok = report(results, args)
    if args.json:
        (args.out / "serve_load.json").write_text(json.dumps(results, indent=2))
        print(json.dumps(results, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
