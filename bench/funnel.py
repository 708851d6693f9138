"""Benchmark: the full funnel report on 1,000,000 contacts and about 5,000,000 stage changes.

    python bench/funnel.py                 # 1,000,000 contacts (the data is built once, then reused)
    python bench/funnel.py --quick         # 20,000 contacts, a smoke run
    python bench/funnel.py --by channel    # the report sliced by source channel
    python bench/funnel.py --json          # the figures as JSON too (bench/out/funnel.json)

The data: Parquet files with the store's column names under bench/out/funnel-<contacts>-<seed>/
(gitignored), synthesised with numpy: every contact walks the funnel of the default
truce.toml, each move one the funnel allows (entries at inquiry, mql, sal or sql; skips such
as inquiry → sql; rejections to recycled or disqualified with a reason code, some without;
recycled leads coming back; deals won and lost), at lognormal intervals over two years. Moves
that would fall after the end do not happen, so spells are left open as in a real store.

What is timed, in this one process, on the same files, best of --repeat runs each:

  truce   truce.services.funnel.report(truce.analytics.sources.from_parquet(folder), ...):
          the Ibis expressions of truce.analytics.funnel run on DuckDB, reading the Parquet files.
  pandas  the same report written with pandas below: read_parquet, one sort, groupby shift and
          merge_asof for the first move into the next stage, groupby size / sum / quantile.

Both cover the whole contact-level report: volume per stage and month, the snapshot, cohort
conversion (90-day window) and the period view's counts, skips, velocity (median and p75,
linear interpolation) and leakage with reasons. Then every number the engines produce is
compared: counts exactly, medians and p75 to 1e-9 days. The totals and rates the service
derives from those in Python are left out of the comparison (they are sums of what is compared).

Target: truce at least 5× faster than pandas. A miss prints "TARGET MISSED" (exit code 0, it
is a measurement); results that differ print the first differences and exit 1. The machine's state
is sampled before and after each engine's runs (bench/machine.py); the verdict counts only when
both were quiet.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import machine  # bench/machine.py: this script's own folder is on sys.path
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
FULL, QUICK = 1_000_000, 20_000
SPEED_TARGET = 5.0
WINDOW_DAYS = 90
DAY = 86_400

STAGES = ("inquiry", "mql", "sal", "sql", "opportunity", "customer", "recycled", "disqualified", "lost")
INDEX = {stage: i for i, stage in enumerate(STAGES)}
# Where a contact goes next, with what chance; what is left over is "no further move".
# Only moves the default truce.toml allows ([funnel.transitions]).
NEXT = {
    "inquiry": {"mql": 0.72, "sal": 0.02, "sql": 0.05, "recycled": 0.08, "disqualified": 0.05},
    "mql": {"sal": 0.62, "sql": 0.03, "recycled": 0.2, "disqualified": 0.07},
    "sal": {"sql": 0.62, "opportunity": 0.02, "recycled": 0.17, "disqualified": 0.05},
    "sql": {"opportunity": 0.7, "customer": 0.01, "recycled": 0.1, "disqualified": 0.03, "lost": 0.04},
    "opportunity": {"customer": 0.32, "lost": 0.58},
    "customer": {},
    "recycled": {"inquiry": 0.3, "mql": 0.58, "disqualified": 0.05},
    "disqualified": {"recycled": 0.3},
    "lost": {"recycled": 0.35, "opportunity": 0.1},
}
# Where contacts enter: the default funnel lets them in at inquiry or MQL only ([funnel.transitions]
# entry_stages); skips happen later (inquiry → SAL or SQL). No deals are written: the moves into
# lost carry their own reasons, so sources.from_parquet has no loss reasons to lend them.
ENTRY = {"inquiry": 0.9, "mql": 0.1}
# Median days spent in a stage before the next move, and the lognormal sigma.
MEDIAN_DAYS = {"inquiry": 9, "mql": 1.5, "sal": 12, "sql": 7, "opportunity": 45, "recycled": 45, "disqualified": 60,
               "lost": 90, "customer": 1}  # fmt: skip
SIGMA = 1.0
CHANNELS = ("paid_search", "paid_social", "organic_search", "content_syndication", "webinar", "event", "email",
            "referral", "partner", "display", "outbound", "direct")  # fmt: skip
SEGMENTS = ("smb", "mid_market", "enterprise")
LOST_REASONS = ("no_budget", "competitor", "no_timeline")
START = dt.datetime(2024, 11, 20, tzinfo=dt.UTC)
END = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


# -- the data --------------------------------------------------------------------------------------


def build(contacts: int, seed: int, folder: Path) -> dict:
    """Write stage_changes, contacts and accounts as Parquet (store column names); return counts."""
    from truce import config as truce_config

    funnel = truce_config.parse(truce_config.default_text()).funnel
    allowed = funnel.moves()
    for stage, targets in NEXT.items():
        assert set(targets) <= set(allowed[stage]), f"{stage} → {set(targets) - set(allowed[stage])} is not allowed"
    assert set(ENTRY) <= set(allowed[None])
    team = np.array([funnel.team_of(s) for s in STAGES])
    codes = np.array([r.code for r in funnel.rejection_reasons] + list(LOST_REASONS))

    rng = np.random.default_rng(seed)
    accounts = max(1, contacts // 4)
    start, end = int(START.timestamp()), int(END.timestamp())
    cumulative = np.zeros((len(STAGES), len(STAGES)))
    for stage, targets in NEXT.items():
        row = np.zeros(len(STAGES))
        for target, p in targets.items():
            row[INDEX[target]] = p
        cumulative[INDEX[stage]] = np.cumsum(row)
    median = np.array([MEDIAN_DAYS[s] * DAY for s in STAGES])

    entry = rng.choice([INDEX[s] for s in ENTRY], contacts, p=list(ENTRY.values()))
    at = np.sort(rng.integers(start, end, contacts))  # ids follow creation, as in a CRM
    stage = entry.astype(np.int8)
    parts = [(np.arange(contacts), np.full(contacts, -1, np.int8), stage.copy(), at.copy())]
    alive = np.arange(contacts)
    while alive.size:
        here = stage[alive]
        pick = (rng.random(alive.size)[:, None] >= cumulative[here]).sum(axis=1)
        when = at[alive] + (median[here] * rng.lognormal(0, SIGMA, alive.size)).astype(np.int64)
        go = (pick < len(STAGES)) & (when < end)
        alive, here, pick, when = alive[go], here[go], pick[go].astype(np.int8), when[go]
        parts.append((alive, here, pick, when))
        stage[alive], at[alive] = pick, when
    contact, from_stage, to_stage, at = (np.concatenate(p) for p in zip(*parts, strict=True))
    order = np.argsort(at, kind="stable")
    contact, from_stage, to_stage, at = contact[order], from_stage[order], to_stage[order], at[order]
    moves = at.size

    exits = np.isin(to_stage, [INDEX["recycled"], INDEX["disqualified"]]) & (from_stage >= 0)
    exits &= from_stage < INDEX["customer"]
    lost = to_stage == INDEX["lost"]
    reason = np.full(moves, -1)
    n_codes = len(funnel.rejection_reasons)
    reason[exits] = rng.integers(0, n_codes, exits.sum())
    reason[lost] = rng.integers(n_codes, len(codes), lost.sum())
    reason[(exits & (rng.random(moves) < 0.04)) | (lost & (rng.random(moves) < 0.4))] = -1

    def labels(values, index):
        return pa.DictionaryArray.from_arrays(
            pa.array(index, pa.int32(), mask=index < 0), pa.array(list(values))
        ).dictionary_decode()

    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(
            {
                "id": pa.array(np.arange(1, moves + 1)),
                "entity_type": pa.array(np.full(moves, "contact")),
                "entity_id": pa.array(contact + 1),
                "from_stage": labels(STAGES, from_stage.astype(np.int64)),
                "to_stage": labels(STAGES, to_stage.astype(np.int64)),
                "changed_at": pa.array(at * 1_000_000, pa.timestamp("us", tz="UTC")),
                "team_after": pa.array(team[to_stage]),
                "reason": labels(codes, reason),
            }
        ),
        folder / "stage_changes.parquet",
    )
    account_id = rng.integers(1, accounts + 1, contacts)
    pq.write_table(
        pa.table(
            {
                "id": pa.array(np.arange(1, contacts + 1)),
                "account_id": pa.array(account_id, mask=rng.random(contacts) < 0.03),
                "source_channel": labels(CHANNELS, rng.integers(0, len(CHANNELS), contacts)),
            }
        ),
        folder / "contacts.parquet",
    )
    pq.write_table(
        pa.table(
            {
                "id": pa.array(np.arange(1, accounts + 1)),
                "segment": labels(SEGMENTS, rng.choice(3, accounts, p=[0.55, 0.3, 0.15])),
            }
        ),
        folder / "accounts.parquet",
    )
    return {"contacts": contacts, "accounts": accounts, "stage_changes": moves}


# -- the two implementations --------------------------------------------------------------------


def run_truce(folder: Path, funnel, by: str | None) -> dict:
    from truce.analytics import sources
    from truce.services.funnel import report

    with sources.from_parquet(folder) as tables:
        return report(tables, funnel, by=by, window_days=WINDOW_DAYS)


def run_pandas(folder: Path, funnel, by: str | None) -> dict:
    """The same report in pandas; returns the engine-computed numbers keyed like `numbers()`."""
    import pandas as pd

    stages = [s.key for s in funnel.stages]
    exits = [s.key for s in funnel.exits]
    pairs = list(zip(stages, stages[1:], strict=False))
    ledger = pd.read_parquet(
        folder / "stage_changes.parquet",
        columns=["id", "entity_type", "entity_id", "from_stage", "to_stage", "changed_at", "team_after", "reason"],
    )
    ledger = ledger[ledger["entity_type"] == "contact"]
    people = pd.read_parquet(folder / "contacts.parquet", columns=["id", "account_id", "source_channel"])
    firms = pd.read_parquet(folder / "accounts.parquet", columns=["id", "segment"])
    at = ledger["changed_at"]
    m = pd.DataFrame(
        {
            "id": ledger["id"].to_numpy(),
            "entity": ledger["entity_id"].to_numpy(),
            "from_stage": ledger["from_stage"].to_numpy(),
            "to_stage": ledger["to_stage"].to_numpy(),
            "ts": (at.dt.as_unit("us").astype("int64") // 1_000_000).to_numpy(),
            "month": (at.dt.year * 100 + at.dt.month).to_numpy(),
            "team": ledger["team_after"].to_numpy(),
            "reason": ledger["reason"].to_numpy(),
        }
    )
    people = people.rename(columns={"id": "entity", "account_id": "account", "source_channel": "channel"})
    m = m.merge(people, on="entity", how="left")
    m = m.merge(firms.rename(columns={"id": "account"}), on="account", how="left")
    m = m.sort_values(["entity", "ts", "id"], kind="stable", ignore_index=True)
    entity = m["entity"]
    by_entity = m.groupby(entity, sort=False)
    m["held_by"] = by_entity["team"].shift(1)
    m["next_ts"] = by_entity["ts"].shift(-1)
    m["first"] = ~m.duplicated(["entity", "to_stage", "month"])
    as_of = int(m["ts"].max())

    def keyed(frame, out=False):
        if by is None:
            return frame.assign(slice=None)
        return frame.assign(slice=frame["held_by"] if by == "team" and out else frame[by])

    found = {}
    first = keyed(m[m["first"]])
    for (month, stage, part), n in first.groupby(["month", "to_stage", "slice"], dropna=False).size().items():
        found["volume", _month(month), stage, _part(part, by)] = int(n)
    onward = keyed(m[m["first"]], out=True)
    entered = {k: v for k, v in found.items() if k[0] == "volume"}
    onward_counts = {
        ("volume", _month(month), stage, _part(part, by)): int(n)
        for (month, stage, part), n in onward.groupby(["month", "to_stage", "slice"], dropna=False).size().items()
    }
    for a, b in pairs:
        months = {(k[1], k[3]) for k in entered if k[2] == a} | {(k[1], k[3]) for k in onward_counts if k[2] == b}
        for month, part in months:
            found["period", a, b, month, part] = (
                entered.get(("volume", month, a, part), 0),
                onward_counts.get(("volume", month, b, part), 0),
            )
    now = keyed(m[m["next_ts"].isna()])
    for (stage, part), n in now.groupby(["to_stage", "slice"], dropna=False).size().items():
        found["snapshot", stage, _part(part, by)] = int(n)

    after = dict(pairs)
    cohort = first[first["to_stage"].isin(list(after))]
    cohort = cohort.assign(target=cohort["to_stage"].map(after)).sort_values("ts", kind="stable")
    onward = m.loc[m["to_stage"].isin(list(after.values())), ["entity", "to_stage", "ts"]]
    onward = onward.rename(columns={"to_stage": "target", "ts": "reached"}).sort_values("reached", kind="stable")
    # The first move into the next stage at or after the entry (merge_asof: nearest key forward).
    cohort = pd.merge_asof(
        cohort, onward, left_on="ts", right_on="reached", by=["entity", "target"], direction="forward"
    )
    closes = cohort["ts"] + WINDOW_DAYS * DAY
    cohort = cohort.assign(converted=cohort["reached"] <= closes, open=closes > as_of)  # NaN compares False
    sums = cohort.groupby(["to_stage", "month", "slice"], dropna=False).agg(
        entered=("id", "size"), converted=("converted", "sum"), open=("open", "sum")
    )
    for (stage, month, part), row in sums.iterrows():
        found["cohort", stage, after[stage], _month(month), _part(part, by)] = (
            int(row["entered"]),
            int(row["converted"]),
            int(row["open"]),
        )

    place = {stage: i for i, stage in enumerate(stages)}
    jump = m["to_stage"].map(place) - m["from_stage"].map(place)  # NaN unless both are waterfall stages
    skipping = keyed(m[jump >= 2], out=True)
    for (a, b, part), n in skipping.groupby(["from_stage", "to_stage", "slice"], dropna=False).size().items():
        found["skip", a, b, _part(part, by)] = int(n)
    leaving = keyed(m[m["from_stage"].isin(stages) & m["to_stage"].isin(exits)], out=True)
    for (a, b, reason, part), n in (
        leaving.groupby(["from_stage", "to_stage", "reason", "slice"], dropna=False).size().items()
    ):
        found["leak", a, b, None if pd.isna(reason) else reason, _part(part, by)] = int(n)

    spells = keyed(m).assign(closed=m["next_ts"].notna(), seconds=m["next_ts"] - m["ts"])
    counts = spells.groupby(["to_stage", "slice"], dropna=False).agg(closed=("closed", "sum"), all=("id", "size"))
    quantiles = spells[spells["closed"]].groupby(["to_stage", "slice"], dropna=False)["seconds"].quantile([0.5, 0.75])
    levels = {(stage, _part(part, by), p): float(v) / DAY for (stage, part, p), v in quantiles.items()}
    for (stage, part), row in counts.iterrows():
        part = _part(part, by)
        found["velocity", stage, part] = (
            int(row["closed"]),
            int(row["all"] - row["closed"]),
            levels.get((stage, part, 0.5)),
            levels.get((stage, part, 0.75)),
        )
    return found


def _month(number) -> str:
    number = int(number)
    return f"{number // 100:04d}-{number % 100:02d}"


def _part(value, by):
    import pandas as pd

    if by is None or value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return _month(value) if by == "month" else value


def numbers(found: dict) -> dict:
    """The engine-computed numbers of truce's report, keyed like run_pandas's."""
    out = {}
    for r in found["volume"]["monthly"]:
        out["volume", r["month"], r["stage"], r["slice"]] = r["entered"]
    for r in found["volume"]["snapshot"]:
        out["snapshot", r["stage"], r["slice"]] = r["count"]
    for r in found["conversion"]["period"]["monthly"]:
        out["period", r["from_stage"], r["to_stage"], r["month"], r["slice"]] = (r["entered_from"], r["entered_to"])
    for r in found["conversion"]["cohort"]["monthly"]:
        out["cohort", r["from_stage"], r["to_stage"], r["month"], r["slice"]] = (
            r["entered"],
            r["converted"],
            r["window_open"],
        )
    for r in found["skips"]["moves"]:
        out["skip", r["from_stage"], r["to_stage"], r["slice"]] = r["moves"]
    for r in found["leakage"]["moves"]:
        out["leak", r["from_stage"], r["to_stage"], r["reason"], r["slice"]] = r["moves"]
    for r in found["velocity"]:
        out["velocity", r["stage"], r["slice"]] = (r["closed"], r["open"], r["median_days"], r["p75_days"])
    return out


def differences(ours: dict, theirs: dict) -> list[str]:
    def same(a, b):
        if isinstance(a, tuple):
            return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
        if isinstance(a, float) or isinstance(b, float):
            return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-9)
        return a == b

    problems = [f"only in truce: {k} = {ours[k]}" for k in ours.keys() - theirs.keys()]
    problems += [f"only in pandas: {k} = {theirs[k]}" for k in theirs.keys() - ours.keys()]
    problems += [
        f"{k}: truce {ours[k]} pandas {theirs[k]}" for k in ours.keys() & theirs.keys() if not same(ours[k], theirs[k])
    ]
    return sorted(problems)


# -- running -----------------------------------------------------------------------------------


def best_of(repeat: int, run) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        began = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - began)
    return min(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK:,} contacts instead of {FULL:,}")
    parser.add_argument("--contacts", type=int, help="how many contacts (overrides --quick)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--by", choices=("channel", "segment", "team", "month"), help="slice the report")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; the best counts")
    parser.add_argument("--rebuild", action="store_true", help="synthesise the Parquet files again")
    parser.add_argument("--json", action="store_true", help="also write bench/out/funnel.json")
    options = parser.parse_args()

    from truce import config as truce_config

    funnel = truce_config.parse(truce_config.default_text()).funnel
    contacts = options.contacts or (QUICK if options.quick else FULL)
    folder = OUT / f"funnel-{contacts}-{options.seed}"
    counts_file = folder / "counts.json"
    if options.rebuild or not counts_file.is_file():
        began = time.perf_counter()
        counts = build(contacts, options.seed, folder)
        counts_file.write_text(json.dumps(counts))
        print(f"built {folder.relative_to(HERE.parent)} in {time.perf_counter() - began:.1f} s")
    counts = json.loads(counts_file.read_text())
    print(
        f"{counts['contacts']:,} contacts, {counts['accounts']:,} accounts, {counts['stage_changes']:,} stage changes;"
        f" report by {options.by or 'nothing'}, {WINDOW_DAYS}-day cohort window; best of {options.repeat}"
    )

    import pandas  # noqa: F401  (imports are not what is timed)

    import truce.analytics.sources  # noqa: F401
    import truce.services.funnel  # noqa: F401

    with machine.measured("truce") as on_truce:
        truce_s, truce_report = best_of(options.repeat, lambda: run_truce(folder, funnel, options.by))
    print(f"truce  (Ibis on DuckDB) {truce_s:8.2f} s   machine: {machine.describe(on_truce.record)}")
    with machine.measured("pandas") as on_pandas:
        pandas_s, pandas_numbers = best_of(options.repeat, lambda: run_pandas(folder, funnel, options.by))
    print(f"pandas                  {pandas_s:8.2f} s   machine: {machine.describe(on_pandas.record)}")
    records = [on_truce.record, on_pandas.record]
    state = machine.overall(records)
    ratio = pandas_s / truce_s
    problems = differences(numbers(truce_report), pandas_numbers)
    compared = len(numbers(truce_report))
    print(
        f"truce is {ratio:.1f}× faster than pandas (target ≥ {SPEED_TARGET:.0f}×): "
        + machine.verdict(ratio >= SPEED_TARGET, state["machine"])
        + ("" if ratio >= SPEED_TARGET else "  TARGET MISSED")
    )
    print(machine.summary(state))
    print(
        f"results: {'identical' if not problems else 'DIFFERENT'} ({compared:,} keyed results, every number compared)"
    )
    for problem in problems[:20]:
        print("  " + problem)
    if options.json:
        (OUT / "funnel.json").write_text(
            json.dumps(
                {
                    **counts,
                    "by": options.by,
                    "truce_seconds": truce_s,
                    "pandas_seconds": pandas_s,
                    "ratio": ratio,
                    "identical": not problems,
                    "compared": compared,
                    "host": f"{platform.python_version()}, {os.cpu_count()} cores",
                    **state,
                    "machine_states": records,
                },
                indent=2,
            )
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
