"""Benchmark: one `sla_sweep` job run over 10,000 open handoffs among 100,000 contacts.

    python bench/sla_sweep.py                                  # 100,000 contacts, 10,000 open handoffs, SQLite
    python bench/sla_sweep.py --contacts 5000 --handoffs 500   # a smoke run
    python bench/sla_sweep.py --pg-url postgresql+psycopg://…  # the same on PostgreSQL
    python bench/sla_sweep.py --json                           # the figures as JSON too

The data, written in bulk into a fresh store (every row through a unit of work): 25 sellers in
five territories, two sales leaders, six marketers; 2,000 accounts; the contacts, of which
`--handoffs` wait at MQL with an open handoff routed to a seller. Their MQL moments are spread
over the 30 days before the run's moment (Wednesday 18 November 2026 11:00 UTC), so about
three in five have passed a deadline (first touch, decision, or both: the sweep records
breaches, and those long past it are escalated: leaders told, leads re-routed) and some are
due within four business hours (reminders). One in three has a sales touch after its MQL.

What is timed, in this one process, on the same store:

  job     truce.services.sla_rules.jobs.sla_sweep(engine, config, now): the sweep (claims and
          breaches, each owing `sla_breach`), escalation (leaders told, leads re-routed with new
          handoffs, `sla_escalated` and `lead_routed`) and the due-soon scan (`sla_due_soon`),
          every outbox row and audit entry included.
  count   SELECT count(*) FROM handoffs WHERE sla_due_at <= :now: the bare count of the same
          overdue rows, best of three, before the job moves them.

Target: the job in under 2 s at 100,000 contacts and 10,000 handoffs. A miss prints "TARGET
MISSED" (exit code 0: it is a measurement); a job that owes nothing, or records no breach,
exits 1 (the data did not exercise it). The machine's state is sampled before and after the count
and the job (bench/machine.py); a verdict counts only when every measurement of the run was quiet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sys
import tempfile
import time
from pathlib import Path

import machine  # bench/machine.py: this script's own folder is on sys.path
from sqlalchemy import func, insert, select

from truce import config as truce_config
from truce.services import sla
from truce.services.sla_rules.jobs import sla_sweep
from truce.store import db
from truce.store.models import Account, Contact, Handoff, OutboxMessage, SlaEvent, Touchpoint, User
from truce.store.work import unit_of_work

NOW = dt.datetime(2026, 11, 18, 11, tzinfo=dt.UTC)
TARGET_SECONDS = 2.0
REGIONS = ("EMEA", "NA", "APAC", "LATAM", "DACH")
SEGMENTS = ("smb", "mid_market", "enterprise")
CHUNK = 5000


def _chunks(rows: list[dict]):
    for start in range(0, len(rows), CHUNK):
        yield rows[start : start + CHUNK]


def build(engine, config, contacts: int, handoffs: int, seed: int) -> None:
    rng = random.Random(seed)
    created = NOW - dt.timedelta(days=400)
    with unit_of_work(engine, "bench", "system") as work:
        conn = work.conn
        users = [
            {"email": f"seller{i}@bench.example", "name": f"Seller {i}", "team": "sales", "region": REGIONS[i % 5],
             "segment": SEGMENTS[i % 3], "is_leader": False, "active": True, "created_at": created}
            for i in range(25)
        ] + [
            {"email": f"leader{i}@bench.example", "name": f"Leader {i}", "team": "sales", "region": None,
             "segment": None, "is_leader": True, "active": True, "created_at": created, "access": "viewer"}
            for i in range(2)
        ] + [
            {"email": f"marketer{i}@bench.example", "name": f"Marketer {i}", "team": "marketing", "region": None,
             "segment": None, "is_leader": i == 0, "active": True, "created_at": created}
            for i in range(6)
        ]  # fmt: skip
        conn.execute(insert(User), users)
        sellers = list(conn.execute(select(User.id).where(User.team == "sales", User.access == "member")).scalars())
        conn.execute(
            insert(Account),
            [{"name": f"Account {i}", "region": REGIONS[i % 5], "segment": SEGMENTS[i % 3], "is_key_account": False,
              "created_at": created, "updated_at": created} for i in range(2000)],
        )  # fmt: skip
        accounts = list(conn.execute(select(Account.id)).scalars())
        for chunk in _chunks(
            [{"email": f"lead{i}@bench.example", "stage": "mql" if i < handoffs else "inquiry",
              "account_id": accounts[i % len(accounts)], "created_at": created, "updated_at": created}
             for i in range(contacts)]
        ):  # fmt: skip
            conn.execute(insert(Contact), chunk)
        waiting = list(conn.execute(select(Contact.id).where(Contact.stage == "mql").order_by(Contact.id)).scalars())
        rows, touches = [], []
        for contact_id in waiting:
            mql_at = NOW - dt.timedelta(minutes=rng.randrange(0, 30 * 24 * 60))
            first_due, decision_due = sla.deadlines(config, mql_at)
            owner = rng.choice(sellers)
            rows.append(
                {"contact_id": contact_id, "mql_at": mql_at, "owner_id": owner, "routing_rule": "bench",
                 "status": "open", "first_touch_due_at": first_due, "decision_due_at": decision_due,
                 "sla_due_at": min(first_due, decision_due), "attempts": 0, "created_at": mql_at,
                 "updated_at": mql_at, "escalation_due_at": decision_due}
            )  # fmt: skip
            if rng.random() < 1 / 3:
                touches.append(
                    {"contact_id": contact_id, "channel": "sales_call", "kind": "sales", "touch_type": "call",
                     "occurred_at": mql_at + dt.timedelta(hours=rng.uniform(0.2, 30)), "user_id": owner}
                )  # fmt: skip
        for chunk in _chunks(rows):
            conn.execute(insert(Handoff), chunk)
        for chunk in _chunks(touches):
            conn.execute(insert(Touchpoint), chunk)
        work.record("bench_setup", "handoffs", None, None, {"contacts": contacts, "handoffs": len(rows)})


def bare_count(engine) -> tuple[float, int]:
    best, found = float("inf"), 0
    for _ in range(3):
        started = time.perf_counter()
        with engine.connect() as conn:
            # One statement, the moment bound by the column's own type (as the sweep binds it).
            found = conn.execute(
                select(func.count()).where(Handoff.sla_due_at.is_not(None), Handoff.sla_due_at <= NOW)
            ).scalar_one()
        best = min(best, time.perf_counter() - started)
    return best, found


def measure(url: str, contacts: int, handoffs: int, seed: int, escalation: bool) -> dict:
    config = _with_escalation(truce_config.parse(truce_config.default_text(), "truce.toml"), escalation)
    engine = db.connect(url)
    db.upgrade(engine)
    started = time.perf_counter()
    build(engine, config, contacts, handoffs, seed)
    built = time.perf_counter() - started
    label = f"{make_backend(url)}, {SCENARIOS[escalation]}"
    with machine.measured(f"{label}: bare count") as counted:
        count_seconds, overdue = bare_count(engine)
    with machine.measured(f"{label}: job") as job:
        started, cpu = time.perf_counter(), time.process_time()
        if os.environ.get("BENCH_PROFILE"):
            done = _profiled(lambda: sla_sweep(engine, config, NOW))
        else:
            done = sla_sweep(engine, config, NOW)
        job_seconds, job_cpu = time.perf_counter() - started, time.process_time() - cpu
    with engine.connect() as conn:
        outbox = dict(conn.execute(select(OutboxMessage.kind, func.count()).group_by(OutboxMessage.kind)).all())
        breaches = conn.execute(select(func.count()).select_from(SlaEvent)).scalar_one()
    engine.dispose()
    return {
        "backend": make_backend(url),
        "scenario": SCENARIOS[escalation],
        "contacts": contacts,
        "handoffs": handoffs,
        "build_seconds": round(built, 2),
        "overdue_rows": overdue,
        "count_seconds": round(count_seconds, 5),
        "job_seconds": round(job_seconds, 3),
        "job_cpu_seconds": round(job_cpu, 3),  # this process's CPU: on a busy machine, less than the wall time
        "ratio": round(job_seconds / count_seconds, 1) if count_seconds else None,
        "job": done,
        "breaches": breaches,
        "outbox": outbox,
        "load": job.record["after"]["load_1min"],  # the 1-minute load average after the job
        "machine_states": [counted.record, job.record],
    }


# The figure is the sweep, the due-soon scan and their outbox rows; escalating a month's
# backlog (three in four leads re-routed at once) is measured beside it, on its own fresh store.
SCENARIOS = {False: "sweep + due-soon", True: "sweep + due-soon + escalation of the backlog"}


def _with_escalation(config, enabled: bool):
    escalation = config.sla.escalation.model_copy(update={"enabled": enabled})
    return config.model_copy(update={"sla": config.sla.model_copy(update={"escalation": escalation})})


def _empty(url: str) -> None:
    """A fresh PostgreSQL store for each scenario: the database given is emptied (a benchmark's own)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


def make_backend(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def _profiled(call):
    """BENCH_PROFILE=1: the job under cProfile, its 25 costliest functions on stderr (slower: not a figure)."""
    import cProfile
    import pstats

    profile = cProfile.Profile()
    result = profile.runcall(call)
    pstats.Stats(profile, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--handoffs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--pg-url", default=None, help="also measure on this PostgreSQL database (emptied first!)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.handoffs > args.contacts:
        parser.error("--handoffs cannot exceed --contacts")
    results = []
    for escalation in (False, True):
        with tempfile.TemporaryDirectory() as folder:
            url = f"sqlite:///{Path(folder) / 'bench.db'}"
            results.append(measure(url, args.contacts, args.handoffs, args.seed, escalation))
        if args.pg_url:
            _empty(args.pg_url)
            results.append(measure(args.pg_url, args.contacts, args.handoffs, args.seed, escalation))
    state = machine.overall([record for r in results for record in r["machine_states"]])
    failed = False
    for r in results:
        print(
            f"{r['backend']:<10} {r['scenario']}: {r['contacts']:,} contacts, {r['handoffs']:,} open handoffs, {r['overdue_rows']:,} overdue: "
            f"job {r['job_seconds']:.3f} s ({r['job_cpu_seconds']:.3f} s CPU), bare count {r['count_seconds'] * 1000:.2f} ms, ratio {r['ratio']}×; "
            f"load {r['load']}"
        )
        print(f"           job: {r['job']}; outbox: {r['outbox']}")
        for record in r["machine_states"]:
            print(f"           machine: {machine.describe(record)}")
        verdict = machine.verdict(r["job_seconds"] < TARGET_SECONDS, state["machine"])
        print(f"           target {TARGET_SECONDS} s: {verdict} ({r['job_seconds']:.2f} s)")
        if (
            not r["outbox"]
            or not r["job"]["breaches_recorded"]
            or (r["scenario"] != SCENARIOS[False]) != bool(r["job"]["rerouted"])
        ):
            print("           the data did not exercise the job (nothing owed or recorded)")
            failed = True
    print(machine.summary(state))
    if args.json:
        print(json.dumps({"python": platform.python_version(), **state, "results": results}, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
