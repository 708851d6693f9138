"""Log-ins under a flood, and whether their time tells who has an account.

1. Time: wrong log-ins for four kinds of email (a user, nobody, an inactive user, a user without a
   password), interleaved; the median of each and the ratio of the slowest to the fastest.
2. Memory: N parallel wrong log-ins, each in a fresh process, with the password checks bounded to
   the cores (as `truce serve` runs) and, as the baseline, with as many slots as requests (no
   bound, as before): peak resident memory of the process and the time the flood took.

    python bench/login_flood.py            # 16 parallel log-ins, 10 rounds of timing
    python bench/login_flood.py --parallel 32 --rounds 20

Each measurement's line carries the machine's state before and after it (bench/machine.py), and the
last line says whether the whole run was quiet.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import machine  # bench/machine.py: this script's own folder is on sys.path

PASSWORD = "correct horse battery"


def make_store(folder: Path):
    from sqlalchemy import update

    from truce.services.logins import add_user
    from truce.store import db
    from truce.store.models import User
    from truce.store.work import unit_of_work

    engine = db.connect(f"sqlite:///{folder / 'flood.db'}")
    db.upgrade(engine)
    add_user(engine, email="eva@yourco.example", team="sales", password=PASSWORD, actor="bench")
    add_user(engine, email="old@yourco.example", team="sales", password=PASSWORD, actor="bench")
    add_user(engine, email="api@yourco.example", team="revops", password=None, actor="bench")
    with unit_of_work(engine, "bench", "test") as work:
        work.conn.execute(update(User).where(User.email == "old@yourco.example").values(active=False))
        work.record("bench_setup", "user", None, None, {"inactive": "old@yourco.example"})
    return engine


def lenient_guard(slots: int | None = None, wait: float = 2.0):
    from truce.domain.throttle import Policy
    from truce.services.login_guard import LoginGuard, PasswordChecks

    free = Policy(free=1_000_000, first_block=1, longest_block=1, forget_after=1)
    checks = PasswordChecks(wait=wait) if slots is None else PasswordChecks(slots=slots, wait=wait)
    return LoginGuard(account=free, address=free, checks=checks)


def timing(rounds: int) -> dict:
    from truce.services.logins import LoginError, log_in

    kinds = {
        "known, wrong password": "eva@yourco.example",
        "unknown": "nobody@yourco.example",
        "inactive": "old@yourco.example",
        "no password": "api@yourco.example",
    }
    with tempfile.TemporaryDirectory() as folder:
        engine = make_store(Path(folder))
        guard = lenient_guard()
        times = {kind: [] for kind in kinds}
        for round_ in range(rounds + 1):
            for kind, email in kinds.items():
                started = time.perf_counter()
                try:
                    log_in(engine, email, "not the password", address="192.0.2.1", guard=guard)
                except LoginError:
                    pass
                if round_:
                    times[kind].append(time.perf_counter() - started)
        engine.dispose()
    medians = {kind: round(statistics.median(t) * 1000, 1) for kind, t in times.items()}
    return {"median_ms": medians, "slowest_over_fastest": round(max(medians.values()) / min(medians.values()), 3)}


def flood(parallel: int, slots: int | None) -> dict:
    """Runs in its own process: N wrong log-ins at once; the peak memory and what they were told."""
    from truce.services.login_guard import ChecksBusy
    from truce.services.logins import LoginError, log_in

    with tempfile.TemporaryDirectory() as folder:
        engine = make_store(Path(folder))
        guard = lenient_guard(slots)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        told: list[str] = []

        def attempt(n: int) -> None:
            try:
                log_in(engine, f"flood.{n}@yourco.example", "not the password", address=f"198.51.100.{n}", guard=guard)
            except ChecksBusy:
                told.append("busy")
            except LoginError:
                told.append("wrong")

        threads = [threading.Thread(target=attempt, args=(n,)) for n in range(parallel)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        engine.dispose()
    return {
        "slots": guard.checks.slots,
        "rss_before_mib": round(before / 1024),
        "rss_peak_mib": round(peak / 1024),
        "grew_mib": round((peak - before) / 1024),
        "seconds": round(took, 2),
        "wrong": told.count("wrong"),
        "busy": told.count("busy"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--flood", choices=("bounded", "unbounded"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.flood:
        print(json.dumps(flood(args.parallel, None if args.flood == "bounded" else args.parallel)))
        return
    records = []
    with machine.measured("timing") as timed:
        found = timing(args.rounds)
    records.append(timed.record)
    print("timing:", json.dumps(found | {"machine_state": timed.record}))
    print(f"        machine: {machine.describe(timed.record)}")
    for kind in ("unbounded", "bounded"):
        run = [sys.executable, __file__, "--flood", kind, "--parallel", str(args.parallel)]
        with machine.measured(f"{kind} flood") as flooded:
            done = subprocess.run(run, capture_output=True, text=True, check=True)
        records.append(flooded.record)
        print(f"{kind}:", json.dumps(json.loads(done.stdout) | {"machine_state": flooded.record}))
        print(f"        machine: {machine.describe(flooded.record)}")
    state = machine.overall(records)
    print("run:", json.dumps(state))
    print(machine.summary(state))


if __name__ == "__main__":
    main()
