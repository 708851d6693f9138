"""Benchmark: every report, cold in its own process, at 100,000 and 1,000,000 contacts, against a columnar floor.

    python bench/reports.py                                   # 100,000 and 1,000,000 contacts, three runs each
    python bench/reports.py --quick                           # 20,000 contacts, a smoke run
    python bench/reports.py --sizes 1e5 --reports brief,sla   # some reports at one size
    python bench/reports.py --json                            # the figures as JSON on stdout (text on stderr)
    python bench/reports.py --trace --sizes 2000              # does READS still list what each report reads?

The store: `truce demo --contacts N --seed S --as-of DAY` into OUT/reports-N-S/truce-DAY.db, built
once and reused while its build.json is there (a fixed --as-of, so runs months apart read the same
company). Its tables are exported once to Parquet beside it (`truce.services.export.export_table`,
secrets left out), for the floor.

What is timed, each in a fresh process, median of --repeat runs:

  report    `truce <report> ... --json --db STORE` (the CLI's `main` under this Python): wall
            seconds, the child's CPU seconds and peak resident memory (os.wait4). Its stdout's
            SHA-256 is printed: a rewrite that reads elsewhere must print the same bytes.
  floor     DuckDB reading, from the Parquet files, exactly the columns that report reads
            (READS below), with count(DISTINCT ...) over every one so no column is skipped: the
            process's wall seconds (interpreter, `import duckdb`, the scans) and the scans alone.
  startup   `truce --version`: what every report pays before it reads anything.
  copy      the analytical copy (truce.analytics.copy) rebuilt from an empty folder: what the
            first report after a write pays on top of its own time. Measured before the
            reports, which then find it current (a quiet store's state: every CLI report).

The ratio is report wall ÷ floor wall: both are a fresh process's wall time, so both pay an
interpreter start. Targets (issue 15): every report ≤ 5× its floor, the brief ≤ 10×, and cost
growing no faster than the data: the largest size's median ÷ the smallest's ≤ 1.2 × the ratio
of their contacts (1M ÷ 100k ≤ 12×). A missed target prints TARGET MISSED and exits 0 (it is a
measurement); a report that fails (non-zero exit, or stdout that is not JSON) exits 1. Each run
is wrapped in bench/machine.py's `measured`: a target counts as met only from a quiet run.

Every report is pinned to the store's fixed day through its own flags (a period, --at/--as-of,
--from/--to), so its output hash is the same from run to run, except `budget`: it has no
as-of flag and leaves "today's" month out of its fit, so its output can change when the
calendar month does (UNPINNED).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import machine  # bench/machine.py: this script's own folder is on sys.path

REPORTS = ("brief", "credit", "roi", "budget", "custody", "attribution", "sla", "metrics", "funnel", "target")
UNPINNED = {"budget": "no --as-of flag: its fit leaves out the current calendar month (today's, not the store's)"}
RATIO_TARGET = 5.0
BRIEF_RATIO_TARGET = 10.0
GROWTH_SLACK = 1.2  # cost may grow 1.2× as fast as the contacts: 12× for 10× the data
QUICK_SIZE = 20_000
AS_OF = "2026-11-30"  # a Monday: the demo's history ends at 00:00 UTC on it

# What each report reads: table → columns. Traced (December 2026, commit 46b6c49) from the SQL
# each report's command sends to SQLite on a 2,000-contact demo, every statement parsed with
# sqlglot, projections pushed down to the base tables. Bookkeeping reads (alembic_version,
# store_revision) are left out, and so is users.password_hash (metrics loads whole users; the
# export never writes a secret). Re-trace when a report changes what it reads: --trace compares.
_TOUCHES = ("campaign_id", "channel", "contact_id", "id", "kind", "occurred_at", "user_id")
_JOURNEY_CONTACTS = ("account_id", "created_at", "deleted_at", "id")
_DEALS = ("account_id", "amount", "close_date", "created_at", "deleted_at", "id", "primary_contact_id", "status")
_CAMPAIGN_COSTS = ("actual_cost", "budget", "channel", "ends_on", "id", "name", "starts_on")
_LEDGER = ("changed_at", "entity_id", "entity_type", "from_stage", "id", "reason", "team_after", "to_stage")
_HANDOFFS = (
    "attempts", "contact_id", "created_at", "decided_at", "decided_by_id", "decision_due_at", "escalation",
    "escalation_due_at", "first_touch_at", "first_touch_due_at", "id", "mql_at", "note", "owner_id",
    "previous_handoff_id", "rejection_reason", "routing_rule", "sla_due_at", "status", "updated_at",
)  # fmt: skip
_TARGETS = ("amount", "created_at", "id", "metric", "period_end", "period_start", "team")
READS: dict[str, dict[str, tuple[str, ...]]] = {
    "brief": {
        "account_plans": ("account_id", "created_at", "id", "liaison_id", "next_action", "next_action_due",
                          "objectives", "owner_id", "updated_at"),
        "accounts": ("deleted_at", "domain", "id", "is_key_account", "name", "owner_id", "segment"),
        "campaigns": (*_CAMPAIGN_COSTS, "owner_id"),
        "contacts": ("account_id", "created_at", "deleted_at", "email", "id", "owner_id", "score", "source_channel",
                     "stage"),
        "decisions": ("agenda_item_id", "closed_at", "closed_by_id", "closing_note", "decided_at", "decided_by_id",
                      "due_on", "id", "indicator", "indicator_value", "meeting_id", "owner_id", "state", "text"),
        "feedback_items": ("author_id", "campaign_id", "contact_id", "created_at", "id", "kind", "opportunity_id",
                           "replied_at", "replied_by_id", "reply", "status", "text"),
        "handoffs": _HANDOFFS,
        "initiatives": ("adopted_at", "adopted_by_id", "baseline", "id", "indicators", "move", "note", "owner_id",
                        "started_on", "state"),
        "meeting_agenda_items": ("id", "meeting_id", "owner_team", "position", "rule", "text"),
        "meeting_attendees": ("meeting_id", "user_id"),
        "meetings": ("held_at", "id", "opened_by_id", "period", "period_first_day", "period_last_day"),
        "opportunities": (*_DEALS, "competitor", "loss_reason", "name", "owner_id", "product", "stage"),
        "sla_events": ("contact_id", "handoff_id", "kind"),
        "stage_changes": _LEDGER,
        "survey_responses": ("id", "respondent_id", "role", "round_id", *(f"s{i}" for i in range(1, 21)), "source",
                             "submitted_at", "team"),
        "survey_rounds": ("id", "name", "opened_at"),
        "targets": _TARGETS,
        "touchpoints": (*_TOUCHES, "account_id"),
        "users": ("active", "email", "id", "name", "team"),
    },
    "credit": {
        "campaigns": ("id", "name", "owner_id"),
        "contacts": _JOURNEY_CONTACTS,
        "opportunities": (*_DEALS, "name"),
        "touchpoints": _TOUCHES,
        "users": ("email", "id", "name", "team"),
    },
    "roi": {"campaigns": _CAMPAIGN_COSTS, "contacts": _JOURNEY_CONTACTS, "opportunities": _DEALS,
            "touchpoints": _TOUCHES, "users": ("email", "id")},
    "budget": {"campaigns": _CAMPAIGN_COSTS, "contacts": _JOURNEY_CONTACTS, "opportunities": _DEALS,
               "touchpoints": _TOUCHES, "users": ("email", "id")},
    "custody": {
        "campaigns": ("id", "owner_id"),
        "contacts": ("created_at", "deleted_at", "email", "id", "owner_id", "stage"),
        "handoffs": ("contact_id", "id", "mql_at"),
        "sla_events": ("contact_id", "handoff_id", "kind"),
        "stage_changes": ("changed_at", "entity_id", "entity_type"),
        "touchpoints": ("campaign_id", "contact_id", "kind", "occurred_at"),
        "users": ("email", "id"),
    },
    "attribution": {"campaigns": ("id", "name"), "contacts": _JOURNEY_CONTACTS, "opportunities": _DEALS,
                    "touchpoints": _TOUCHES, "users": ("email", "id")},
    "sla": {
        "contacts": ("deleted_at", "email", "id", "score"),
        "handoffs": _HANDOFFS,
        "sla_events": ("handoff_id", "kind"),
        "users": ("email", "id"),
    },
    "metrics": {
        "accounts": ("id", "industry", "segment"),
        "campaigns": (*_CAMPAIGN_COSTS, "owner_id"),
        "contacts": ("account_id", "id"),
        "opportunities": ("account_id", "amount", "campaign_id", "close_date", "created_at", "deleted_at", "id",
                          "owner_id", "product", "stage", "status"),
        "stage_changes": ("changed_at", "entity_id", "entity_type", "id", "to_stage"),
        "touchpoints": ("account_id", "contact_id", "kind", "occurred_at", "touch_type", "user_id"),
        "users": ("access", "active", "created_at", "email", "external_id", "id", "is_leader", "marketing_focus",
                  "name", "region", "segment", "team"),
    },
    "funnel": {
        "accounts": ("deleted_at", "id", "segment"),
        "contacts": ("account_id", "deleted_at", "id", "source_channel"),
        "opportunities": ("close_date", "deleted_at", "loss_reason", "primary_contact_id", "status"),
        "stage_changes": _LEDGER,
    },
    "target": {
        "opportunities": ("amount", "close_date", "created_at", "deleted_at", "id", "stage", "status"),
        "stage_changes": ("changed_at", "entity_id", "entity_type", "id", "to_stage"),
        "targets": _TARGETS,
    },
}  # fmt: skip

# A child runs the CLI's own entry point under this interpreter (truce.cli has no __main__).
TRUCE = "import sys; sys.argv[0] = 'truce'; from truce.cli import main; sys.exit(main())"
EXPORT = """
import json, sys
from pathlib import Path
from truce.services.export import export_table
from truce.store import db
engine = db.connect(sys.argv[1])
for table in json.loads(sys.argv[2]):
    export_table(engine, table, Path(sys.argv[3]) / f"{table}.parquet.partial", "parquet")
    (Path(sys.argv[3]) / f"{table}.parquet.partial").rename(Path(sys.argv[3]) / f"{table}.parquet")
"""
# The floor: each column read in full (a distinct count cannot skip a value), one query per table.
FLOOR = """
import json, sys, time
import duckdb
folder, reads = sys.argv[1], json.loads(sys.argv[2])
started = time.perf_counter()
con = duckdb.connect()
for table, columns in reads.items():
    counts = ", ".join(f'count(DISTINCT "{column}")' for column in columns)
    con.execute(f"SELECT count(*), {counts} FROM read_parquet($path)", {"path": f"{folder}/{table}.parquet"}).fetchall()
print(json.dumps({"scan_seconds": time.perf_counter() - started}))
"""

# --trace: the report's command with every statement sent to SQLite recorded, then each SELECT
# parsed with sqlglot, projections pushed down, and the base tables' columns kept (how READS was made).
TRACE = """
import atexit, json, sqlite3, sys
statements, connect = [], sqlite3.connect
def traced(*args, **kwargs):
    con = connect(*args, **kwargs)
    con.set_trace_callback(statements.append)
    return con
sqlite3.connect = sqlite3.dbapi2.connect = traced
def columns_read():
    import sqlglot
    from sqlglot.optimizer.pushdown_projections import pushdown_projections
    from sqlglot.optimizer.qualify import qualify
    from sqlglot.optimizer.scope import traverse_scope
    con = connect(sys.argv[sys.argv.index("--db") + 1])
    tables = [t for (t,) in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    schema = {t: {row[1]: "TEXT" for row in con.execute("SELECT * FROM pragma_table_info(?)", (t,))} for t in tables}
    used = {}
    for statement in statements:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            tree = qualify(sqlglot.parse_one(statement, read="sqlite"), schema=schema, dialect="sqlite",
                           validate_qualify_columns=False)
            for scope in traverse_scope(pushdown_projections(tree, schema=schema)):
                for column in scope.columns:
                    if isinstance(scope.sources.get(column.table), sqlglot.exp.Table):
                        used.setdefault(scope.sources[column.table].name, set()).add(column.name)
    with open(TRACED, "w") as out:
        json.dump({t: sorted(c) for t, c in sorted(used.items())}, out)
TRACED = sys.argv.pop(1)
atexit.register(columns_read)
sys.argv[0] = "truce"
from truce.cli import main
main()
"""
BOOKKEEPING = {"alembic_version": None, "store_revision": None, "users": {"password_hash"}}  # left out of READS


def traced_reads(report: str, store: Path, as_of: dt.date) -> dict[str, tuple[str, ...]]:
    """What `report` reads from the store now: table → columns, as READS lists them."""
    path = store.parent / f"trace-{report}.json"
    args = [str(path), *report_args(report, as_of), "--json", "--db", str(store)]
    done = child(TRACE, args, store.parent, f"trace-{report}")
    if done["exit_code"] != 0:
        raise SystemExit(f"tracing {report} failed:\n{done['stderr_tail']}")
    found = {}
    for table, columns in json.loads(path.read_text()).items():
        if table in BOOKKEEPING and BOOKKEEPING[table] is None:
            continue
        found[table] = tuple(c for c in columns if c not in (BOOKKEEPING.get(table) or ()))
    return found


def trace(args) -> int:
    """--trace: compare READS with what each report reads from the smallest store; 1 if any differs."""
    store, _ = store_for(args.out, args.sizes[0], args.seed, args.as_of)
    differing = [report for report in args.reports if not _same_reads(report, traced_reads(report, store, args.as_of))]
    return 1 if differing else 0


def _same_reads(report: str, found: dict[str, tuple[str, ...]]) -> bool:
    listed, same = READS[report], True
    for table in sorted(set(found) | set(listed)):
        read, named = set(found.get(table, ())), set(listed.get(table, ()))
        if read != named:
            same = False
            print(
                f"{report}: {table}: read but not listed {sorted(read - named)}; listed, not read {sorted(named - read)}"
            )
    print(f"{report}: {'matches' if same else 'differs from'} READS")
    return same


def report_args(report: str, as_of: dt.date) -> list[str]:
    """The report's flags, pinned to the store's last day (the day before `as_of`, when its history ends)."""
    last_day = as_of - dt.timedelta(days=1)
    span = ["--from", f"{as_of.year - 3}-01-01", "--to", last_day.isoformat()]  # the whole two-year history
    moment = ["--at", f"{as_of.isoformat()}T00:00Z"]
    week = (as_of - dt.timedelta(days=7)).isocalendar()
    quarter = f"{last_day.year}-Q{(last_day.month - 1) // 3 + 1}"
    return {
        "brief": ["brief", "--period", f"{week.year}-W{week.week:02d}", "--at", last_day.isoformat()],
        "credit": ["credit", *span],
        "roi": ["roi", *span],
        "budget": ["budget"],
        "custody": ["custody", *moment],
        "attribution": ["attribution", *span],
        "sla": ["sla", *moment],
        "metrics": ["metrics", *span],
        "funnel": ["funnel", *span],
        "target": ["target", "--period", quarter, "--at", last_day.isoformat()],
    }[report]


def child(code: str, args: list[str], cwd: Path, name: str) -> dict:
    """Run `python -c code args` in `cwd`; wall and CPU seconds, peak memory, exit code, stdout's bytes."""
    out_path, err_path = cwd / f"{name}.stdout", cwd / f"{name}.stderr"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-c", code, *args], cwd=cwd, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not every child's so far
        wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 3),
        "max_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux gives KiB
        "exit_code": proc.returncode,
        "stdout": out_path.read_bytes(),
        "stderr_tail": err_path.read_text(errors="replace")[-2000:],
    }


def store_for(out: Path, contacts: int, seed: int, as_of: dt.date) -> tuple[Path, dict]:
    """The demo store for this size, seed and day: reused when a finished build is there, else built."""
    folder = out / f"reports-{contacts}-{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    store, done = folder / f"truce-{as_of}.db", folder / f"build-{as_of}.json"
    if done.exists():
        return store, json.loads(done.read_text())
    for leftover in folder.glob(f"truce-{as_of}.db*"):
        leftover.unlink()  # a build that did not finish
    shutil.rmtree(folder / f"parquet-{as_of}", ignore_errors=True)
    print(f"building the {contacts:,}-contact demo in {folder} …", file=sys.stderr, flush=True)
    args = ["demo", "--contacts", str(contacts), "--seed", str(seed), "--as-of", str(as_of), "--db", str(store)]
    built = child(TRUCE, [*args, "--json"], folder, "build")
    if built["exit_code"] != 0:
        raise SystemExit(f"truce demo failed (exit {built['exit_code']}):\n{built['stderr_tail']}")
    summary = {"build_seconds": built["wall_seconds"], "max_rss_mib": built["max_rss_mib"],
               "tables": json.loads(built["stdout"])["tables"]}  # fmt: skip
    done.write_text(json.dumps(summary, indent=2))
    return store, {**summary, "built_now": True}


def parquet_for(store: Path, as_of: dt.date, tables: set[str]) -> Path:
    """The store's tables as Parquet, exported once (those not yet there)."""
    folder = store.parent / f"parquet-{as_of}"
    folder.mkdir(exist_ok=True)
    missing = sorted(t for t in tables if not (folder / f"{t}.parquet").exists())
    if missing:
        print(f"exporting {', '.join(missing)} to Parquet …", file=sys.stderr, flush=True)
        done = child(EXPORT, [f"sqlite:///{store}", json.dumps(missing), str(folder)], folder, "export")
        if done["exit_code"] != 0:
            raise SystemExit(f"the Parquet export failed:\n{done['stderr_tail']}")
    return folder


def median_of(runs: list[dict], key: str) -> float:
    return round(statistics.median(r[key] for r in runs), 3)


def measure_report(report: str, store: Path, as_of: dt.date, config: Path | None, repeat: int) -> dict:
    args = [*report_args(report, as_of), "--json", "--db", str(store)]
    if config:
        args += ["--config", str(config)]
    runs = []
    for i in range(repeat):
        with machine.measured(f"{report} at {store.parent.name}, run {i + 1}") as m:
            run = child(TRUCE, args, store.parent, report)
        runs.append(_checked(run) | {"machine": m.record})
    hashes = {r["sha256"] for r in runs}
    failed = next((r for r in runs if r["error"]), None)
    return {
        "command": "truce " + " ".join(args),
        "args": args,
        "pinned": report not in UNPINNED,
        "runs": runs,
        "wall_seconds": median_of(runs, "wall_seconds"),
        "cpu_seconds": median_of(runs, "cpu_seconds"),
        "max_rss_mib": max(r["max_rss_mib"] for r in runs),
        "sha256": hashes.pop() if len(hashes) == 1 else None,  # None: the output changed between runs
        "error": failed["error"] if failed else None,
    }


def _checked(run: dict) -> dict:
    """A run's figures with its output's hash, and why it failed (None if it did not)."""
    stdout, error = run.pop("stdout"), None
    if run["exit_code"] != 0:
        last_line = (run["stderr_tail"].strip().splitlines() or [""])[-1]
        error = f"exit {run['exit_code']}: {last_line}"
    else:
        try:
            json.loads(stdout)
        except ValueError as exc:
            error = f"stdout is not JSON: {exc}"
    stderr_tail = run.pop("stderr_tail")
    return {**run, "sha256": hashlib.sha256(stdout).hexdigest(), "error": error,
            **({"stderr_tail": stderr_tail} if error else {})}  # fmt: skip


def measure_floor(report: str, parquet: Path, repeat: int) -> dict:
    reads = {table: list(columns) for table, columns in READS[report].items()}
    runs = []
    for i in range(repeat):
        with machine.measured(f"{report} floor at {parquet.parent.name}, run {i + 1}") as m:
            run = child(FLOOR, [str(parquet), json.dumps(reads)], parquet, f"floor-{report}")
        if run["exit_code"] != 0:
            why = "a column READS names is not in the export?"
            raise SystemExit(f"the floor of {report} failed ({why}):\n{run['stderr_tail']}")
        scan = json.loads(run.pop("stdout"))["scan_seconds"]
        run.pop("stderr_tail")
        runs.append({**run, "scan_seconds": round(scan, 3), "machine": m.record})
    return {
        "columns": sum(len(c) for c in reads.values()),
        "tables": len(reads),
        "runs": runs,
        "wall_seconds": median_of(runs, "wall_seconds"),
        "cpu_seconds": median_of(runs, "cpu_seconds"),
        "scan_seconds": median_of(runs, "scan_seconds"),
    }


def measure_startup(folder: Path, repeat: int) -> dict:
    runs = []
    for i in range(repeat):
        with machine.measured(f"startup at {folder.name}, run {i + 1}") as m:
            run = child(TRUCE, ["--version"], folder, "startup")
        runs.append({k: v for k, v in run.items() if k not in ("stdout", "stderr_tail")} | {"machine": m.record})
    return {"runs": runs, "wall_seconds": median_of(runs, "wall_seconds")}


# The analytical copy (truce.analytics.copy) rebuilt from scratch: what the first report after a
# write pays on top of its own time. Measured first, so the reports after it find the copy current.
COPY_REBUILD = """
import json, shutil, sys, time
from truce.analytics import copy
from truce.store.db import connect
engine = connect(sys.argv[1])
shutil.rmtree(copy.copy_folder(engine), ignore_errors=True)
started = time.perf_counter()
copy.open_copy(engine).close()
print(json.dumps({"rebuild_seconds": time.perf_counter() - started}))
"""


def measure_copy(store: Path, repeat: int) -> dict:
    runs = []
    for i in range(repeat):
        with machine.measured(f"copy rebuild at {store.parent.name}, run {i + 1}") as m:
            run = child(COPY_REBUILD, [f"sqlite:///{store}"], store.parent, "copy")
        if run["exit_code"] != 0:
            raise SystemExit(f"the analytical copy's rebuild failed:\n{run['stderr_tail']}")
        rebuilt = json.loads(run.pop("stdout"))["rebuild_seconds"]
        run.pop("stderr_tail")
        runs.append({**run, "rebuild_seconds": round(rebuilt, 3), "machine": m.record})
    return {"runs": runs, "wall_seconds": median_of(runs, "wall_seconds"),
            "rebuild_seconds": median_of(runs, "rebuild_seconds")}  # fmt: skip


def measure_size(contacts: int, args, as_of: dt.date) -> dict:
    store, build = store_for(args.out, contacts, args.seed, as_of)
    parquet = parquet_for(store, as_of, {t for r in args.reports for t in READS[r]})
    found = {"contacts": contacts, "store": str(store), "build": build,
             "startup": measure_startup(store.parent, args.repeat),
             "copy": measure_copy(store, args.repeat), "reports": {}}  # fmt: skip
    for report in args.reports:
        print(f"{contacts:,} contacts: {report} …", file=sys.stderr, flush=True)
        measured = measure_report(report, store, as_of, args.config, args.repeat)
        floor = measure_floor(report, parquet, args.repeat)
        ratio = None if measured["error"] else round(measured["wall_seconds"] / floor["wall_seconds"], 1)
        # CPU ÷ CPU is not a target: a hint, on a busy machine, of where the wall ratio would land.
        cpu_ratio = None if measured["error"] else round(measured["cpu_seconds"] / floor["cpu_seconds"], 1)
        found["reports"][report] = {**measured, "floor": floor, "ratio": ratio, "cpu_ratio": cpu_ratio}
    return found


def growth(sizes: list[dict]) -> dict:
    """Per report: the largest size's median wall ÷ the smallest's, against 1.2 × the data's growth."""
    if len(sizes) < 2:
        return {}
    small, large = sizes[0], sizes[-1]
    limit = round(GROWTH_SLACK * large["contacts"] / small["contacts"], 1)
    return {
        report: {"from": small["contacts"], "to": large["contacts"], "limit": limit,
                 "ratio": round(large["reports"][report]["wall_seconds"] / small["reports"][report]["wall_seconds"], 1)}
        for report in small["reports"]
        if not (small["reports"][report]["error"] or large["reports"][report]["error"])
    }  # fmt: skip


def records(sizes: list[dict]) -> list[dict]:
    found = []
    for size in sizes:
        found += [run["machine"] for run in size["startup"]["runs"]]
        found += [run["machine"] for run in size["copy"]["runs"]]
        for report in size["reports"].values():
            found += [run["machine"] for run in report["runs"] + report["floor"]["runs"]]
    return found


def judged(result: dict) -> dict:
    """Each target's verdict, met only from a quiet run (machine.verdict)."""
    state = result["machine"]
    for size in result["sizes"]:
        for name, report in size["reports"].items():
            report["target_ratio"] = BRIEF_RATIO_TARGET if name == "brief" else RATIO_TARGET
            met = report["ratio"] is not None and report["ratio"] <= report["target_ratio"]
            report["verdict"] = None if report["error"] else machine.verdict(met, state)
    for found in result["growth"].values():
        found["verdict"] = machine.verdict(found["ratio"] <= found["limit"], state)
    return result


def target_line(verdict: str | None) -> str:
    """TARGET MET only from a quiet run; a miss is printed either way (README: "Quiet or busy")."""
    if verdict is None:
        return "not judged: the report failed"
    if verdict.startswith("met on a busy machine"):
        return verdict
    return "TARGET " + verdict.replace("met", "MET", 1)


def _ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.1f}×"


def print_text(result: dict, stream) -> None:
    def say(line: str = "") -> None:
        print(line, file=stream)

    for size in result["sizes"]:
        build = size["build"]
        say(f"{size['contacts']:,} contacts ({build['tables']['touchpoints']:,} touchpoints, "
            f"{build['tables']['stage_changes']:,} stage changes, {build['tables']['opportunities']:,} deals); "
            f"`truce --version` {size['startup']['wall_seconds']:.2f} s; "
            f"analytical copy rebuilt in {size['copy']['rebuild_seconds']:.2f} s")  # fmt: skip
        say("  report           wall      cpu     peak    floor    scan   ratio cpu÷cpu  sha256")
        for name, r in size["reports"].items():
            f = r["floor"]
            say(f"  {name:<12}{r['wall_seconds']:>8.2f}s{r['cpu_seconds']:>8.2f}s{r['max_rss_mib']:>6.0f}MiB"
                f"{f['wall_seconds']:>8.2f}s{f['scan_seconds']:>7.2f}s{_ratio(r['ratio']):>8}{_ratio(r['cpu_ratio']):>8}  "
                f"{(r['sha256'] or 'CHANGED BETWEEN RUNS')[:16]}{'' if r['pinned'] else ' (unpinned)'}")  # fmt: skip
            if r["error"]:
                say(f"    FAILED: {r['error']}")
            say(f"    ≤ {r['target_ratio']:g}× its floor: {target_line(r['verdict'])}")
    for name, g in result["growth"].items():
        say(f"growth {name}: {g['to']:,} ÷ {g['from']:,} contacts = {g['ratio']}× (≤ {g['limit']:g}×): "
            f"{target_line(g['verdict'])}")  # fmt: skip
    for name, why in UNPINNED.items():
        if any(name in size["reports"] for size in result["sizes"]):
            say(f"unpinned: {name}: {why}")
    say(machine.summary(result))


def parse_args(argv: list[str] | None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1e5,1e6", help="contacts per store, comma-separated (1e5 = 100,000)")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SIZE:,} contacts only, a smoke run")
    parser.add_argument("--reports", default=",".join(REPORTS), help="a comma-separated subset of " + ",".join(REPORTS))
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median counts")
    parser.add_argument("--seed", type=int, default=7, help="the demo's seed")
    parser.add_argument("--as-of", default=AS_OF, type=dt.date.fromisoformat, help="the demo's last day + 1 (fixed)")
    parser.add_argument("--config", type=Path, default=None, help="a truce.toml for the reports (default: built-in)")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out")
    parser.add_argument("--trace", action="store_true", help="only compare READS with the columns each report reads")
    parser.add_argument("--json", action="store_true", help="print the result as JSON on stdout, the text on stderr")
    args = parser.parse_args(argv)
    args.reports = [r.strip() for r in args.reports.split(",") if r.strip()]
    unknown = [r for r in args.reports if r not in REPORTS]
    if unknown or not args.reports:
        parser.error(f"--reports: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(REPORTS)}")
    try:
        args.sizes = [QUICK_SIZE] if args.quick else sorted(int(float(s)) for s in args.sizes.split(","))
    except ValueError:
        parser.error(f"--sizes: {args.sizes!r} is not a comma-separated list of numbers (e.g. 1e5,1e6)")
    if args.repeat < 1 or any(s < 100 for s in args.sizes):
        parser.error("--repeat must be ≥ 1 and every size ≥ 100 contacts")
    args.out, args.config = args.out.resolve(), args.config.resolve() if args.config else None
    return args


def locked(out: Path):
    """One run per output folder: two would time each other."""
    out.mkdir(parents=True, exist_ok=True)
    lock = open(out / ".reports.lock", "w")  # noqa: SIM115 - held until the process exits
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:
        pass
    except OSError:
        raise SystemExit(f"another bench/reports.py run is using {out}; wait for it or pass --out DIR") from None
    return lock


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    _lock = locked(args.out)
    if args.trace:
        return trace(args)
    sizes = [measure_size(contacts, args, args.as_of) for contacts in args.sizes]
    result = {"benchmark": "reports", "command": " ".join(["python", "bench/reports.py", *(argv or sys.argv[1:])]),
              "python": platform.python_version(), "as_of": str(args.as_of), "seed": args.seed,
              "repeat": args.repeat, **machine.overall(records(sizes)), "sizes": sizes, "growth": growth(sizes)}  # fmt: skip
    judged(result)
    (args.out / "reports.json").write_text(json.dumps(result, indent=2, default=str))
    print_text(result, sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    failed = [f"{s['contacts']}:{name}" for s in sizes for name, r in s["reports"].items() if r["error"]]
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
