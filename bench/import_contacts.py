"""Benchmark: import generated contacts from CSV into SQLite and PostgreSQL.

    python bench/import_contacts.py                  # 1,000,000 contacts, SQLite (+ PostgreSQL if configured)
    python bench/import_contacts.py --quick          # 50,000 contacts, a smoke run
    python bench/import_contacts.py --pg-url URL     # PostgreSQL too (default: $TRUCE_TEST_DATABASE_URL)
    python bench/import_contacts.py --json           # the same figures as JSON

What is measured, per backend, each in its own child process on a fresh copy of one database
(migrated, with the same accounts already loaded through truce's importer, not timed):

  baseline  the bare load of the same rows, already in store columns (account ids resolved,
            timestamps as the store keeps them): csv.reader + sqlite3 executemany in one
            transaction on SQLite; COPY ... FROM STDIN (FORMAT csv) of the file's bytes on PostgreSQL.
  truce     truce.imports.service.import_file(engine, "contacts", ...) on the truce-dialect export:
            parsed, validated, matched against the store, written in one transaction. Then the
            same file again (the idempotent re-run: every row unchanged).

Figures: rows per second, the ratio truce/baseline measured in the same run, and each child's
peak resident memory (VmHWM). Targets for truce's first import: ≥ 1/3 of the baseline's rows
per second and ≤ 1 GiB peak. A missed target prints "TARGET MISSED"; the exit code stays 0
(it is a measurement). A wrong result (row count, sampled rows) exits 1. The machine's state is
sampled before and after each load (bench/machine.py); a target counts as met only when every load
of the run was taken on a quiet machine.

Files, and the last result as import_contacts.json, go to bench/out/ (gitignored). PostgreSQL
runs create, and finally drop, the databases truce_bench_template/_baseline/_truce next to the
one in the URL (the role needs CREATEDB). --profile adds, per backend, a truce import and
re-import under cProfile on another fresh database (slower, not judged) and leaves
bench/out/profile-<backend>-<run>.pstats.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

import machine  # bench/machine.py: this script's own folder is on sys.path

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "out"
FULL, QUICK = 1_000_000, 50_000
SPEED_TARGET = 1 / 3  # truce's first import, as a share of the baseline's rows per second
MEMORY_TARGET_MIB = 1024
SAMPLES = 25
PG_DATABASES = ("truce_bench_template", "truce_bench_baseline", "truce_bench_truce")

# The store columns the baseline file holds, in its order.
STORE_COLUMNS = (
    "external_id",
    "email",
    "first_name",
    "last_name",
    "title",
    "account_id",
    "source_channel",
    "stage",
    "lead_status",
    "created_at",
    "updated_at",
)
UPDATED_AT = "2026-01-01 00:00:00.000000"  # the baseline's updated_at (truce stamps its own)
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Nurturing", "Unqualified")
REGIONS = ("North America", "EMEA", "APAC")
SEGMENTS = ("SMB", "Mid-market", "Enterprise")


# -- generating the files ------------------------------------------------------------------------


def generate(n: int, seed: int, out: Path) -> dict:
    """Write accounts.csv, contacts.csv (truce dialect) and contacts-store.csv (store columns).

    Deterministic for (n, seed). Returns the paths and, for a sample of rows, the values the
    store must hold after an import.
    """
    import numpy as np

    from truce.config import load
    from truce.demo.marketing import CHANNELS
    from truce.demo.names import COMPANY_WORDS, FIRST_NAMES, INDUSTRIES, LAST_NAMES, TITLES
    from truce.imports.dialects import TRUCE_FIELDS

    config = load()
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    n_accounts = max(1, n // 5)
    start = np.datetime64("2024-01-01T00:00:00", "s")
    span = 2 * 365 * 86_400

    # Accounts: unique domains; names as a CRM has them (not unique).
    industry = rng.integers(0, len(INDUSTRIES), n_accounts)
    word = rng.integers(0, len(COMPANY_WORDS), n_accounts)
    suffix = rng.integers(0, 4, n_accounts)
    region = rng.integers(0, len(REGIONS), n_accounts)
    employees = np.exp(rng.normal(5, 1.6, n_accounts)).astype(int) + 1
    account_created = np.datetime_as_string(start + rng.integers(0, span, n_accounts), unit="s")
    account_ids = [f"ac-{j:07d}" for j in range(n_accounts)]
    domains = []
    with open(out / "accounts.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(TRUCE_FIELDS["accounts"])
        for j in range(n_accounts):
            name_word = COMPANY_WORDS[word[j]]
            label, _share, _icp, words = INDUSTRIES[industry[j]]
            second = words[j % len(words)]
            domain = f"{name_word}-{second}-{j}.example.com".lower().replace(" ", "")
            domains.append(domain)
            writer.writerow(
                (
                    account_ids[j],
                    f"{name_word} {second}{('', ' Inc.', ' Ltd', ' GmbH')[suffix[j]]}",
                    domain,
                    label,
                    int(employees[j]),
                    REGIONS[region[j]],
                    SEGMENTS[min(2, int(employees[j]) // 400)],
                    "",  # owner_email
                    "true" if employees[j] > 5000 else "false",  # a blank is_key_account fails the import
                    f"{account_created[j]}Z",
                )
            )

    # Contacts.
    first = rng.integers(0, len(FIRST_NAMES), n)
    last = rng.integers(0, len(LAST_NAMES), n)
    has_account = rng.random(n) >= 0.04
    account = rng.integers(0, n_accounts, n)
    shape = rng.integers(0, 3, n)  # local part: first.last / flast / first_last
    case = rng.choice(3, n, p=(0.6, 0.25, 0.15))  # As Typed / lower / UPPER
    titles = [t for level in TITLES for t in level]
    title = rng.integers(0, len(titles) + 3, n)  # a few blanks
    shares = np.array([c.share for c in CHANNELS])
    channel = rng.choice(len(CHANNELS), n, p=shares / shares.sum())
    keys = config.funnel.stage_keys
    weights = np.array([0.5**i for i in range(len(config.funnel.stages))] + [0.05] * len(config.funnel.exits))
    stage = rng.choice(len(keys), n, p=weights / weights.sum())
    status = rng.integers(0, len(LEAD_STATUSES) * 2, n)  # half of them blank
    created = np.datetime_as_string(start + rng.integers(0, span, n), unit="s")

    truce_path, store_path = out / "contacts.csv", out / "contacts-store.csv"
    header = ("external_id", "email", "first_name", "last_name", "title", "account_external_id")
    header += ("source_channel", "stage", "lead_status", "created_at")
    assert set(header) <= set(TRUCE_FIELDS["contacts"])
    picks = set(rng.choice(n, min(SAMPLES, n), replace=False).tolist()) | {0, n - 1}
    samples = []
    with (
        open(truce_path, "w", newline="", encoding="utf-8") as truce_file,
        open(store_path, "w", newline="", encoding="utf-8") as store_file,
    ):
        truce_rows, store_rows = csv.writer(truce_file), csv.writer(store_file)
        truce_rows.writerow(header)
        store_rows.writerow(STORE_COLUMNS)
        for i in range(n):
            given, family = FIRST_NAMES[first[i]], LAST_NAMES[last[i]]
            local = (f"{given}.{family}", f"{given[0]}{family}", f"{given}_{family}")[shape[i]].replace(" ", "")
            host = domains[account[i]] if has_account[i] else "mail.example.net"
            email = f"{local}.{i}@{host}"
            email = (email, email.lower(), email.upper())[case[i]]
            t = titles[title[i]] if title[i] < len(titles) else ""
            s = LEAD_STATUSES[status[i]] if status[i] < len(LEAD_STATUSES) else ""
            when = created[i]
            ext = f"ct-{i:08d}"
            truce_rows.writerow(
                (
                    ext,
                    email,
                    given,
                    family,
                    t,
                    account_ids[account[i]] if has_account[i] else "",
                    CHANNELS[channel[i]].key,
                    keys[stage[i]],
                    s,
                    f"{when}Z",
                )
            )
            account_id = int(account[i]) + 1 if has_account[i] else None  # ids 1.. in accounts.csv order
            stored_at = f"{when.replace('T', ' ')}.000000"
            store_rows.writerow(
                (
                    ext,
                    email.lower(),
                    given,
                    family,
                    t,
                    account_id,
                    CHANNELS[channel[i]].key,
                    keys[stage[i]],
                    s,
                    stored_at,
                    UPDATED_AT,
                )
            )
            if i in picks:
                samples.append(
                    {
                        "external_id": ext,
                        "email": email.lower(),
                        "first_name": given,
                        "last_name": family,
                        "title": t or None,
                        "account_id": account_id,
                        "source_channel": CHANNELS[channel[i]].key,
                        "stage": keys[stage[i]],
                        "lead_status": s or None,
                        "created_at": f"{when}+00:00",
                    }
                )
    return {
        "contacts": n,
        "accounts": n_accounts,
        "accounts_csv": str(out / "accounts.csv"),
        "contacts_csv": str(truce_path),
        "store_csv": str(store_path),
        "samples": samples,
        "config": config.source_path,
    }


# -- the children: one measured load each --------------------------------------------------------


def _peak_mib() -> float:
    """This process's peak resident set size (VmHWM), in MiB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _rss_mib() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _libpq(url: str) -> str:
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    return urlunsplit(("postgresql",) + tuple(parts[1:]))


def _check(dbapi, marker: str, samples: list[dict], expected_count: int) -> list[str]:
    """Problems with what the store holds: row count and the sampled rows, field by field."""
    import datetime as dt

    problems = []
    cursor = dbapi.cursor()
    cursor.execute("SELECT count(*) FROM contacts")
    count = cursor.fetchone()[0]
    if count != expected_count:
        problems.append(f"contacts holds {count:,} rows, expected {expected_count:,}")
    fields = [k for k in samples[0] if k != "external_id"]
    wanted = [s["external_id"] for s in samples]
    cursor.execute(
        f"SELECT external_id, {', '.join(fields)} FROM contacts WHERE external_id IN ({', '.join([marker] * len(wanted))})",
        wanted,
    )
    stored = {row[0]: dict(zip(fields, row[1:], strict=True)) for row in cursor.fetchall()}
    for sample in samples:
        row = stored.get(sample["external_id"])
        if row is None:
            problems.append(f"{sample['external_id']}: missing")
            continue
        when = row["created_at"]
        if isinstance(when, str):
            when = dt.datetime.fromisoformat(when)
        when = when.replace(tzinfo=dt.UTC) if when.tzinfo is None else when.astimezone(dt.UTC)
        row["created_at"] = when.isoformat()
        for key in fields:
            if row[key] != sample[key]:
                problems.append(f"{sample['external_id']}: {key} is {row[key]!r}, expected {sample[key]!r}")
    cursor.close()
    return problems


def child_sqlite_baseline(spec: dict) -> dict:
    import sqlite3

    conn = sqlite3.connect(spec["path"], isolation_level=None)
    for pragma in ("foreign_keys=ON", "journal_mode=WAL", "synchronous=NORMAL"):  # as truce's engine sets
        conn.execute(f"PRAGMA {pragma}")
    listed = ", ".join(STORE_COLUMNS)
    values = ", ".join("NULLIF(?, '')" for _ in STORE_COLUMNS)  # an empty cell is NULL, as in COPY
    statement = f"INSERT INTO contacts ({listed}) VALUES ({values})"
    before = _rss_mib()
    started, cpu_started = time.perf_counter(), time.process_time()
    with open(spec["store_csv"], newline="", encoding="utf-8") as handle:
        rows = csv.reader(handle)
        next(rows)
        conn.execute("BEGIN")
        conn.executemany(statement, rows)
        conn.execute("COMMIT")
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak = _peak_mib()
    problems = _check(conn, "?", spec["samples"], spec["contacts"])
    conn.close()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_mib": peak,
        "rss_before_mib": before,
        "problems": problems,
    }


def child_pg_baseline(spec: dict) -> dict:
    import psycopg

    conn = psycopg.connect(_libpq(spec["url"]))
    conn.execute("SET TIME ZONE 'UTC'")  # the file's timestamps are UTC without a zone, as SQLite keeps them
    conn.commit()
    statement = f"COPY contacts ({', '.join(STORE_COLUMNS)}) FROM STDIN (FORMAT csv, HEADER)"
    before = _rss_mib()
    started, cpu_started = time.perf_counter(), time.process_time()
    with open(spec["store_csv"], "rb") as handle, conn.cursor() as cursor, cursor.copy(statement) as copy:
        while block := handle.read(1 << 20):
            copy.write(block)
    conn.commit()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak = _peak_mib()
    problems = _check(conn, "%s", spec["samples"], spec["contacts"])
    conn.close()
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_mib": peak,
        "rss_before_mib": before,
        "problems": problems,
    }


def child_truce(spec: dict) -> dict:
    from truce.config import load
    from truce.imports.service import Options, import_file
    from truce.imports.writers import WRITERS  # noqa: F401 - imported here, not inside the timing
    from truce.store import db

    engine = db.connect(spec["url"])
    config = load()
    with engine.connect():  # open the pooled connection before timing
        pass
    profiler = None
    if spec.get("profile"):
        import cProfile

        profiler = cProfile.Profile()
    before = _rss_mib()
    started, cpu_started = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    report = import_file(engine, "contacts", spec["contacts_csv"], config, Options())
    if profiler:
        profiler.disable()
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    peak = _peak_mib()
    if profiler:
        profiler.dump_stats(spec["profile"])
    n = spec["contacts"]
    problems = []
    expected = {"rows_read": n, "rejected": 0}
    expected |= {"inserted": n, "updated": 0, "unchanged": 0} if spec["run"] == "first" else {}
    expected |= {"inserted": 0, "updated": 0, "unchanged": n} if spec["run"] == "again" else {}
    for key, value in expected.items():
        if getattr(report, key) != value:
            problems.append(f"report.{key} is {getattr(report, key):,}, expected {value:,}")
    if report.errors:
        problems.append(f"first error: {report.errors[0]}")
    raw = engine.raw_connection()
    try:
        problems += _check(raw.driver_connection, "?" if engine.dialect.name == "sqlite" else "%s", spec["samples"], n)
    finally:
        raw.close()
    engine.dispose()
    counts = {k: getattr(report, k) for k in ("rows_read", "inserted", "updated", "unchanged", "rejected")}
    return {
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "peak_mib": peak,
        "rss_before_mib": before,
        "problems": problems,
        "report": counts,
    }


CHILDREN = {"sqlite-baseline": child_sqlite_baseline, "pg-baseline": child_pg_baseline, "truce": child_truce}


def run_child(spec: dict) -> dict:
    """Run one measured load in a fresh interpreter; its peak memory is its own."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child"],
        input=json.dumps(spec),
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        sys.stderr.write(done.stdout + done.stderr)
        raise SystemExit(f"benchmark child {spec['kind']} failed (exit {done.returncode})")
    return json.loads(lines[-1].removeprefix("RESULT "))


# -- preparing databases (not timed) -------------------------------------------------------------


def _load_accounts(url: str, data: dict) -> float:
    """Migrate an empty database and import the accounts through truce; check their ids."""
    from sqlalchemy import text

    from truce.config import load
    from truce.imports.service import Options, import_file
    from truce.store import db

    engine = db.connect(url)
    db.upgrade(engine)
    started = time.perf_counter()
    report = import_file(engine, "accounts", data["accounts_csv"], load(), Options())
    seconds = time.perf_counter() - started
    if report.inserted != data["accounts"]:
        raise SystemExit(f"accounts import inserted {report.inserted}, expected {data['accounts']}")
    # The store file says account_id = row number in accounts.csv; make sure that is so.
    numbered = (
        "printf('ac-%07d', id - 1)" if engine.dialect.name == "sqlite" else "'ac-' || lpad((id - 1)::text, 7, '0')"
    )
    with engine.connect() as conn:
        wrong = conn.execute(text(f"SELECT count(*) FROM accounts WHERE external_id <> {numbered}")).scalar_one()
    engine.dispose()
    if wrong:
        raise SystemExit(f"{wrong} accounts did not get the id the baseline file assumes")
    return seconds


def _measure(backend: str, label: str, spec: dict) -> dict:
    print(f"  {backend}: {label} …", file=sys.stderr, flush=True)
    with machine.measured(f"{backend} {label}") as m:
        result = run_child(spec)
    # The 1-minute load average at the end of the load (the key the tables and docs used before).
    result |= {"load_1min": m.record["after"]["load_1min"], "machine_state": m.record}
    if result["problems"]:
        for problem in result["problems"][:20]:
            print(f"    WRONG RESULT: {problem}", file=sys.stderr)
        raise SystemExit(f"{backend} {label}: the store does not hold what the file says")
    rows_per_s = spec["contacts"] / result["seconds"]
    print(
        f"    {result['seconds']:.2f} s, {rows_per_s:,.0f} rows/s, peak {result['peak_mib']:.0f} MiB; "
        f"machine {m.record['machine']}",
        file=sys.stderr,
    )
    return {"backend": backend, "run": label, "rows_per_s": rows_per_s, **result}


def _profiled(backend: str, url: str, out: Path, common: dict) -> list[dict]:
    runs = []
    for run, label in (("first", "truce (profiled)"), ("again", "truce again (profiled)")):
        spec = {"kind": "truce", "run": run, "url": url, "profile": str(out / f"profile-{backend}-{run}.pstats")}
        runs.append(_measure(backend, label, {**spec, **common}))
    return runs


def run_sqlite(data: dict, out: Path, profile: bool) -> dict:
    template = out / "sqlite-template.db"
    for stale in out.glob("sqlite-*.db*"):
        stale.unlink()
    print("  sqlite: migrating and importing accounts (not timed) …", file=sys.stderr, flush=True)
    accounts_s = _load_accounts(f"sqlite:///{template}", data)
    assert not Path(f"{template}-wal").exists(), "the template's WAL was not checkpointed"

    def fresh(name: str) -> Path:
        path = out / f"sqlite-{name}.db"
        shutil.copyfile(template, path)
        return path

    common = {k: data[k] for k in ("contacts", "contacts_csv", "store_csv", "samples")}
    base = _measure("sqlite", "baseline", {"kind": "sqlite-baseline", "path": str(fresh("baseline")), **common})
    url = f"sqlite:///{fresh('truce')}"
    first = _measure("sqlite", "truce", {"kind": "truce", "run": "first", "url": url, **common})
    again = _measure("sqlite", "truce again", {"kind": "truce", "run": "again", "url": url, **common})
    runs = [base, first, again]
    if profile:
        runs += _profiled("sqlite", f"sqlite:///{fresh('profile')}", out, common)
    for path in out.glob("sqlite-*.db*"):
        path.unlink()
    return {"backend": "sqlite", "accounts_import_s": accounts_s, "runs": runs}


def run_postgres(data: dict, url: str, out: Path, profile: bool, keep: bool) -> dict:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base_url = make_url(url)
    admin = create_engine(base_url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    names = PG_DATABASES + (("truce_bench_profile",) if profile else ())

    def create(name: str, template: str | None = None) -> str:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
            conn.execute(text(f"CREATE DATABASE {name}" + (f" TEMPLATE {template}" if template else "")))
        return base_url.set(database=name).render_as_string(hide_password=False)

    with admin.connect() as conn:
        server = conn.execute(text("SHOW server_version")).scalar_one()
    print("  postgresql: migrating and importing accounts (not timed) …", file=sys.stderr, flush=True)
    accounts_s = _load_accounts(create(PG_DATABASES[0]), data)
    common = {k: data[k] for k in ("contacts", "contacts_csv", "store_csv", "samples")}
    try:
        base_db = create(PG_DATABASES[1], PG_DATABASES[0])
        base = _measure("postgresql", "baseline", {"kind": "pg-baseline", "url": base_db, **common})
        truce_db = create(PG_DATABASES[2], PG_DATABASES[0])
        first = _measure("postgresql", "truce", {"kind": "truce", "run": "first", "url": truce_db, **common})
        again = _measure("postgresql", "truce again", {"kind": "truce", "run": "again", "url": truce_db, **common})
        runs = [base, first, again]
        if profile:
            runs += _profiled("postgresql", create(names[-1], PG_DATABASES[0]), out, common)
    finally:
        if not keep:
            with admin.connect() as conn:
                for name in names:
                    conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        admin.dispose()
    return {"backend": "postgresql", "server_version": server, "accounts_import_s": accounts_s, "runs": runs}


# -- reporting -----------------------------------------------------------------------------------


def host() -> dict:
    import sqlite3

    import truce

    source = Path(truce.__file__).parent
    info = {
        "truce_source": str(source),
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "platform": platform.platform(),
    }
    try:
        with open("/proc/meminfo") as meminfo:
            total = next(line for line in meminfo if line.startswith("MemTotal:"))
        info["ram_gib"] = round(int(total.split()[1]) / 1024**2, 1)
        with open("/proc/cpuinfo") as cpuinfo:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except (OSError, StopIteration):
        pass
    try:
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=source, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=source, capture_output=True, text=True, check=True
        ).stdout.strip()
        info["src_changed"] = len(changed.splitlines())  # uncommitted files in the measured package
    except (OSError, subprocess.CalledProcessError):
        info["commit"] = "(not a git checkout)"
    return info


def judge(backend: dict) -> dict:
    """Ratios against this backend's baseline, and the targets for truce's first import."""
    runs = {run["run"]: run for run in backend["runs"]}
    base = runs["baseline"]["rows_per_s"]
    for run in backend["runs"]:
        run["ratio"] = run["rows_per_s"] / base
    first = runs["truce"]
    backend["targets"] = {
        "speed": {"ratio": first["ratio"], "target": SPEED_TARGET, "met": first["ratio"] >= SPEED_TARGET},
        "memory": {
            "peak_mib": first["peak_mib"],
            "target": MEMORY_TARGET_MIB,
            "met": first["peak_mib"] <= MEMORY_TARGET_MIB,
        },
    }
    return backend


LABELS = {
    ("sqlite", "baseline"): "baseline: csv.reader + executemany",
    ("postgresql", "baseline"): "baseline: COPY FROM STDIN (csv)",
    "truce": "truce import (all rows new)",
    "truce again": "truce re-import (all unchanged)",
    "truce (profiled)": "truce import under cProfile",
    "truce again (profiled)": "truce re-import under cProfile",
}


def table(result: dict) -> str:
    lines = [
        f"import_contacts: {result['contacts']:,} contacts ({result['accounts']:,} accounts loaded first, not timed), "
        f"seed {result['seed']}",
        "host: {nproc} CPUs ({cpu}), {ram_gib} GiB RAM, Python {python}, SQLite {sqlite}, "
        "PostgreSQL {postgresql}".format(**{"cpu": "?", "ram_gib": "?", "postgresql": "-", **result["host"]}),
        "",
        f"{'backend':<11} {'run':<34} {'seconds':>8} {'CPU s':>6} {'rows/s':>10} {'vs baseline':>12} {'peak MiB':>9} {'load':>5} "
        "machine",
    ]
    state = result["machine"]
    missed = []
    for backend in result["backends"]:
        for run in backend["runs"]:
            label = LABELS.get((backend["backend"], run["run"])) or LABELS[run["run"]]
            lines.append(
                f"{backend['backend']:<11} {label:<34} {run['seconds']:>8.2f} {run.get('cpu_seconds', 0):>6.1f} "
                f"{run['rows_per_s']:>10,.0f} "
                f"{run['ratio']:>11.2f}x {run['peak_mib']:>9.0f} {run['load_1min']:>5.1f} {run['machine_state']['machine']}"
            )
        speed, memory = backend["targets"]["speed"], backend["targets"]["memory"]
        lines.append(
            f"{'':<11} target: truce ≥ {SPEED_TARGET:.2f}x baseline: {machine.verdict(speed['met'], state)} "
            f"({speed['ratio']:.2f}x); peak ≤ {MEMORY_TARGET_MIB} MiB: {machine.verdict(memory['met'], state)} "
            f"({memory['peak_mib']:.0f} MiB)"
        )
        missed += [f"{backend['backend']} {name}" for name, t in (("speed", speed), ("memory", memory)) if not t["met"]]
    known = result["host"]
    version = f"commit {known['commit']}, {known['src_changed']} files changed" if "src_changed" in known else "not git"
    lines.insert(2, f"truce imported from {known['truce_source']} ({version})")
    for note in result["skipped"]:
        lines.append(f"skipped: {note}")
    lines.append("")
    for backend in result["backends"]:
        for run in backend["runs"]:
            lines.append(f"machine: {machine.describe(run['machine_state'])}")
    lines.append(machine.summary(result))
    if missed:
        lines.append(f"TARGET MISSED: {', '.join(missed)}" + ("" if state == "quiet" else " (on a busy machine: not counted)"))
    elif result["backends"]:
        lines.append(f"all targets {machine.verdict(True, state)}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=FULL, help=f"rows to import (default {FULL:,})")
    parser.add_argument("--quick", action="store_true", help=f"a smoke run of {QUICK:,} contacts")
    parser.add_argument("--seed", type=int, default=20261101)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where files go (default bench/out/)")
    parser.add_argument("--pg-url", default=os.environ.get("TRUCE_TEST_DATABASE_URL"), help="PostgreSQL server")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--profile", action="store_true", help="also run truce's import under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the PostgreSQL databases")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        spec = json.loads(sys.stdin.read())
        print("RESULT " + json.dumps(CHILDREN[spec["kind"]](spec)), flush=True)
        return 0

    n = QUICK if args.quick else args.contacts
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    lock = open(out / ".lock", "w")  # noqa: SIM115 - held until the process exits
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:
        pass
    except OSError:
        raise SystemExit(f"another import_contacts run is using {out}; wait for it or pass --out DIR") from None
    print(f"generating {n:,} contacts in {out} …", file=sys.stderr, flush=True)
    started = time.perf_counter()
    data = generate(n, args.seed, out)
    print(f"  {time.perf_counter() - started:.1f} s", file=sys.stderr)
    result = {
        "benchmark": "import_contacts",
        "command": " ".join(["python", "bench/import_contacts.py", *(argv if argv is not None else sys.argv[1:])]),
        "contacts": n,
        "accounts": data["accounts"],
        "seed": args.seed,
        "config": data["config"],
        "host": host(),
        "backends": [],
        "skipped": [],
    }
    if args.no_sqlite:
        result["skipped"].append("SQLite (--no-sqlite)")
    else:
        result["backends"].append(judge(run_sqlite(data, out, args.profile)))
    if args.pg_url:
        result["backends"].append(judge(run_postgres(data, args.pg_url, out, args.profile, args.keep)))
        result["host"]["postgresql"] = result["backends"][-1]["server_version"]
    else:
        result["skipped"].append("PostgreSQL: no --pg-url and TRUCE_TEST_DATABASE_URL is not set")
    for backend in result["backends"]:
        for run in backend["runs"]:
            run.pop("problems", None)
    result |= machine.overall([run["machine_state"] for b in result["backends"] for run in b["runs"]])
    for backend in result["backends"]:
        for target in backend["targets"].values():
            target["verdict"] = machine.verdict(target["met"], result["machine"])
    (out / "import_contacts.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2) if args.json else table(result))
    if args.json and any(not t["met"] for b in result["backends"] for t in b["targets"].values()):
        print("TARGET MISSED", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
