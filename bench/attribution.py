"""Benchmark: attribution over a long table of journeys in Parquet, against the reference packages.

    python bench/attribution.py                      # 1e5, 1e6 and 1e7 journeys (files built once, ~30 s)
    python bench/attribution.py --quick              # 1e5 journeys, one run each: a smoke run
    python bench/attribution.py --skip-reference     # truce and the DuckDB floor only
    python bench/attribution.py --json               # the figures as JSON (also bench/out/attribution/attribution.json)

It needs ChannelAttribution and marketing-attribution-models (2.x, import name `mam`) in the
same virtualenv as truce; see bench/README.md.

The data: one Parquet file per size under bench/out/attribution/ (or --data DIR), columns
journey_id (int64), timestamp (UTC, whole seconds over about two years), channel (12 names),
converted, revenue; rows shuffled. A journey has Poisson(3) + 1 touches (4 on average) at
strictly increasing times; channels differ in popularity and in their effect on the chance to
convert (logistic in the set of channels touched; about 5 % convert). A converting journey
says so on its last touch, which also carries its revenue, so "a journey's revenue is the
max over its rows" (truce) and "the sum" (MAM's session format) agree.

What is measured, each in its own child process (so its peak memory, VmHWM, is its own), on the
same file, imports not timed, the median of --repeat runs (a run over a minute is not repeated;
the first run in a process also loads the compiled passes from numba's cache):

  floor     DuckDB: SELECT journey_id, count(*), bool_or(converted), max(revenue)
            FROM read_parquet(file) GROUP BY journey_id, materialised to Arrow. No ordering.
  truce     truce.services.attribution_file.file_report(file, "markov"): reads and checks the
            file's columns, orders every journey's touches, exact Markov (order 1, absorbing
            chain); the passes over the touches are compiled (truce.analytics.kernels).
  CA        ChannelAttribution's pipeline from the same file: the path table with polars
            (scan_parquet, sort by journey and time, join channels with " > ", then per path
            the conversions, nulls and value), then markov_model(order=1, var_null, var_value,
            max_step=100, nsim_start=--ca-nsim, ncore=cores, seed=0).
  truce sh  file_report(file, "shapley") (exact per channel set, "rate"), at --shapley-sizes.
  MAM       polars.read_parquet(file) → mam.MAM(format_type="session") →
            run_shapley(max_size=12, value_column="conv_rate"): max_size is every channel, so
            no channel set is cut short and both compute the same game.

Targets (issue 15): truce's Markov ≥ 10× faster than ChannelAttribution's pipeline at 1e7
journeys and no slower than the floor (≤ 1.0×); truce's Shapley ≥ 8× faster than MAM's at 1e6;
truce's peak memory ≤ 2 GiB at 1e7. Each ratio is of the medians of the runs. Agreement is printed too: truce's exact Markov against CA's
simulation (largest |difference| of a channel's share, percentage points) and truce's Shapley
against MAM's (largest relative difference of a channel's credit). A missed target prints
"TARGET MISSED" (exit code 0: it is a measurement); totals that differ between the packages
(the same conversions and revenue must be credited) print "WRONG RESULT" and exit 1. The machine's
state is sampled before and after each measurement (bench/machine.py); a target counts as met only
when every measurement of the run was taken on a quiet machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import machine  # bench/machine.py: this script's own folder is on sys.path
import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / "out" / "attribution"

CHANNELS = (
    "paid_search",
    "organic_search",
    "email",
    "display",
    "paid_social",
    "organic_social",
    "affiliate",
    "referral",
    "direct",
    "video",
    "webinar",
    "events",
)
POPULARITY = np.array([18, 14, 12, 11, 9, 8, 6, 6, 6, 4, 3, 3], float) / 100
EFFECT = np.array([0.6, 0.4, 0.5, -0.2, 0.1, 0.0, 0.3, 0.5, 0.2, -0.3, 0.9, 1.2])  # log-odds when touched
BASE = -4.25  # log-odds with no channel: about 5 % of journeys convert
START = 1_704_067_200  # 2024-01-01T00:00:00Z
SPAN = 2 * 365 * 86_400
GAP_S = 36 * 3_600  # mean time between touches

CA_SPEED, FLOOR_RATIO, MAM_SPEED, PEAK_MIB = 10.0, 1.0, 8.0, 2048
LONG_RUN_S = 60.0


# -- the data ----------------------------------------------------------------------------------


def generate(n: int, seed: int, path: Path) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    lengths = rng.poisson(3.0, n) + 1
    m = int(lengths.sum())
    journey = np.repeat(np.arange(n, dtype=np.int64), lengths)
    channel = rng.choice(len(CHANNELS), size=m, p=POPULARITY).astype(np.int32)
    touched = np.zeros((n, len(CHANNELS)), bool)
    touched[journey, channel] = True
    chance = 1 / (1 + np.exp(-(BASE + touched @ EFFECT)))
    del touched
    converts = rng.random(n) < chance
    value = np.where(converts, np.round(rng.gamma(2.0, 60.0, n), 2) + 1, 0.0)
    first = np.cumsum(lengths) - lengths
    # Whole seconds, strictly increasing inside a journey, starting anywhere in the two years.
    gaps = 1 + np.floor(rng.exponential(GAP_S, m)).astype(np.int64)
    steps = np.cumsum(gaps)
    steps -= np.repeat(steps[first], lengths)
    seconds = (START + rng.integers(0, SPAN - 90 * 86_400, n))[journey] + steps
    del gaps, steps
    last = np.zeros(m, bool)
    last[first + lengths - 1] = True
    won = last & converts[journey]
    order = rng.permutation(m)
    table = pa.table(
        {
            "journey_id": journey[order] + 1_000_000,
            "timestamp": pa.array(seconds[order] * 1_000_000, pa.timestamp("us", tz="UTC")),
            "channel": pa.DictionaryArray.from_arrays(pa.array(channel[order]), pa.array(CHANNELS, pa.string())).cast(
                pa.string()
            ),
            "converted": won[order],
            "revenue": np.where(won, value[journey], 0.0)[order],
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    pq.write_table(table, partial)
    partial.rename(path)
    return {
        "journeys": n,
        "rows": m,
        "converting": int(converts.sum()),
        "conversion_rate": float(converts.mean()),
        "mean_touches": float(lengths.mean()),
        "revenue": float(value.sum()),
        "bytes": path.stat().st_size,
    }


def data_file(folder: Path, n: int, seed: int) -> Path:
    return folder / f"journeys-{n}-{seed}.parquet"


# -- what each child process runs ----------------------------------------------------------------


def _peak_mib() -> float:
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CPU_SECONDS: list[float] = []  # CPU time (every thread of the child) of each timed run


def _cpu() -> float:
    import resource

    used = resource.getrusage(resource.RUSAGE_SELF)
    return used.ru_utime + used.ru_stime


def _median_run(seconds: list[float]) -> float:
    """The run whose time is the median (the lower middle one of an even count)."""
    return sorted(seconds)[(len(seconds) - 1) // 2]


def _timed(repeat: int, run) -> tuple[list[float], object]:
    """Up to `repeat` runs (one if a run takes over a minute); the seconds of each, the last result."""
    seconds, result = [], None
    for _ in range(repeat):
        began, cpu = time.perf_counter(), _cpu()
        result = run()
        seconds.append(time.perf_counter() - began)
        CPU_SECONDS.append(_cpu() - cpu)
        if seconds[-1] > LONG_RUN_S:
            break
    return seconds, result


def child_generate(spec: dict) -> dict:
    return generate(spec["n"], spec["seed"], Path(spec["path"]))


def child_floor(spec: dict) -> dict:
    import duckdb

    source = spec["path"].replace("'", "''")

    def run():
        con = duckdb.connect()
        try:
            return con.sql(
                "SELECT journey_id, count(*) AS touches, bool_or(converted) AS converted, max(revenue) AS revenue "
                f"FROM read_parquet('{source}') GROUP BY journey_id"
            ).to_arrow_table()
        finally:
            con.close()

    seconds, table = _timed(spec["repeat"], run)
    return {"seconds": seconds, "journeys": table.num_rows}


def child_truce(spec: dict) -> dict:
    import ibis
    import pandas  # noqa: F401  (pyarrow's to_numpy and pa.table import it on first use)
    import pyarrow.parquet  # noqa: F401

    import truce.analytics.kernels  # numba's import; loading the compiled passes is in the first run
    import truce.analytics.longfile
    import truce.analytics.sources
    import truce.domain.attribution.kernel
    import truce.domain.attribution.markov
    import truce.domain.attribution.shapley  # noqa: F401  (imports are not what is timed)
    from truce.services.attribution_file import file_report

    ibis.duckdb  # noqa: B018  (Ibis loads a backend's module on first use)

    seconds, result = _timed(spec["repeat"], lambda: file_report(spec["path"], spec["model"]))
    channels = {r["channel"]: r for r in result.report["channels"]}
    return {
        "seconds": seconds,
        "path_taken": result.path_taken,
        "total_conversions": result.report["total_conversions"],
        "total_revenue": result.report["total_revenue"],
        "conversions": {c: r["conversions"] for c, r in channels.items()},
        "revenue": {c: r["revenue"] for c, r in channels.items()},
    }


def child_ca(spec: dict) -> dict:
    import polars as pl

    with contextlib.redirect_stdout(io.StringIO()):
        import ChannelAttribution as ca

    def paths():
        # The path table the fastest way we found (docs/performance.md): polars, lazily from
        # the file (eager polars needs three times the memory at 1e7 journeys; DuckDB's
        # string_agg and pandas are slower).
        rows = pl.scan_parquet(spec["path"]) if spec["paths"] == "polars-lazy" else pl.read_parquet(spec["path"])
        journeys = (
            rows.sort(["journey_id", "timestamp"])
            .group_by("journey_id")
            .agg(
                pl.col("channel").str.join(" > ").alias("path"),
                pl.col("converted").any().alias("conv"),
                pl.col("revenue").max().alias("revenue"),
            )
        )
        table = journeys.group_by("path").agg(
            pl.col("conv").cast(pl.Int64).sum().alias("total_conversions"),
            pl.when(pl.col("conv")).then(pl.col("revenue")).otherwise(0.0).sum().alias("total_conversion_value"),
            (1 - pl.col("conv").cast(pl.Int64)).sum().alias("total_null"),
        )
        return (table.collect() if spec["paths"] == "polars-lazy" else table).to_pandas()

    def markov(table):
        with contextlib.redirect_stdout(io.StringIO()):
            return ca.markov_model(
                table,
                "path",
                "total_conversions",
                var_value="total_conversion_value",
                var_null="total_null",
                order=1,
                nsim_start=spec["nsim"],
                max_step=100,
                seed=0,
                ncore=os.cpu_count() or 1,
                verbose=False,
                flg_pro=False,
            )

    built = []

    def run():
        began = time.perf_counter()
        table = paths()
        built.append(time.perf_counter() - began)
        return len(table), markov(table)

    seconds, (distinct, result) = _timed(spec["repeat"], run)
    return {
        "seconds": seconds,
        "build_seconds": built[seconds.index(_median_run(seconds))],  # of the median run
        "distinct_paths": distinct,
        "conversions": dict(zip(result["channel_name"], map(float, result["total_conversions"]), strict=True)),
        "revenue": dict(zip(result["channel_name"], map(float, result["total_conversion_value"]), strict=True)),
    }


def child_mam(spec: dict) -> dict:
    import warnings

    import polars as pl

    warnings.filterwarnings("ignore")
    from mam import MAM

    def run():
        rows = pl.read_parquet(spec["path"], columns=["journey_id", "timestamp", "channel", "converted", "revenue"])
        model = MAM(
            rows,
            format_type="session",
            channels_colname="channel",
            journey_with_conv_colname="converted",
            datetime_colname="timestamp",
            user_id_colname="journey_id",
            conversion_value_colname="revenue",
        )
        # max_size = every channel: no channel set is cut to its last max_size names.
        return model.run_shapley(max_size=len(CHANNELS), value_column="conv_rate")

    seconds, result = _timed(spec["repeat"], run)
    table = result.metadata["conv_table"]
    name = next(c for c in table.columns if c.startswith("attribution_shapley"))
    revenue, conversions = dict.fromkeys(CHANNELS, 0.0), dict.fromkeys(CHANNELS, 0.0)
    # Its credits split each channel set's value (revenue here); the same shares split the
    # set's conversions, which is what truce reports beside the revenue.
    for row in table.iter_rows(named=True):
        names = row["combinations"].split(" > ")
        for channel, credit in zip(names, row[name], strict=True):
            revenue[channel] += credit
            conversions[channel] += credit / row["conversion_value"] * row["conversions"]
    return {"seconds": seconds, "channel_sets": table.height, "conversions": conversions, "revenue": revenue}


CHILDREN = {
    "generate": child_generate,
    "floor": child_floor,
    "truce": child_truce,
    "ca": child_ca,
    "mam": child_mam,
}


def in_child(spec: dict) -> dict:
    """Run one measurement in a fresh interpreter; its result and its peak memory."""
    done = subprocess.run(
        [sys.executable, __file__, "--child"], input=json.dumps(spec), capture_output=True, text=True, check=False
    )
    line = next((x for x in done.stdout.splitlines() if x.startswith("RESULT ")), None)
    if done.returncode or line is None:
        raise SystemExit(f"{spec['kind']} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(line[len("RESULT ") :])


# -- judging and printing ------------------------------------------------------------------------


def shares(credits: dict) -> dict:
    total = sum(credits.values())
    return {c: v / total for c, v in credits.items()}


def max_share_gap_pp(ours: dict, theirs: dict) -> float:
    a, b = shares(ours), shares(theirs)
    return 100 * max(abs(a.get(c, 0.0) - b.get(c, 0.0)) for c in a.keys() | b.keys())


def max_relative_gap(ours: dict, theirs: dict) -> float:
    return max(abs(ours.get(c, 0.0) - theirs.get(c, 0.0)) / max(abs(ours.get(c, 0.0)), 1e-300) for c in ours)


def judge(size: dict) -> dict:
    runs = size["runs"]
    best = {name: statistics.median(run["seconds"]) for name, run in runs.items()}
    size["median"] = best
    out = {}
    cpu = {name: statistics.median(run["cpu_seconds"]) for name, run in runs.items()}
    size["median_cpu"] = cpu
    if "truce" in runs and "floor" in runs:
        out["truce_vs_floor"] = best["truce"] / best["floor"]
        out["truce_vs_floor_cpu"] = cpu["truce"] / cpu["floor"]
    if "ca" in runs:
        out["ca_vs_truce"] = best["ca"] / best["truce"]
        out["ca_vs_truce_cpu"] = cpu["ca"] / cpu["truce"]
        out["ca_gap_conversions_pp"] = max_share_gap_pp(runs["truce"]["conversions"], runs["ca"]["conversions"])
        out["ca_gap_revenue_pp"] = max_share_gap_pp(runs["truce"]["revenue"], runs["ca"]["revenue"])
    if "mam" in runs:
        out["mam_vs_truce"] = best["mam"] / best["truce_shapley"]
        out["mam_vs_truce_cpu"] = cpu["mam"] / cpu["truce_shapley"]
        out["mam_gap_conversions"] = max_relative_gap(runs["truce_shapley"]["conversions"], runs["mam"]["conversions"])
        out["mam_gap_revenue"] = max_relative_gap(runs["truce_shapley"]["revenue"], runs["mam"]["revenue"])
    size["ratios"] = out
    # Wrong inputs rather than different methods: every package must see the same totals.
    problems = []
    truce = runs.get("truce", {})
    for name in ("ca", "mam", "truce_shapley"):
        if name in runs and truce:
            for what, total in (("conversions", "total_conversions"), ("revenue", "total_revenue")):
                theirs = sum(runs[name][what].values())
                if abs(theirs - truce[total]) > 1e-6 * max(1.0, abs(truce[total])):
                    problems.append(f"{name} credits {theirs} {what} in all, truce {truce[total]}")
    if truce and truce["total_conversions"] != size["converting"]:
        problems.append(
            f"truce counts {truce['total_conversions']} conversions, the generator made {size['converting']}"
        )
    size["problems"] = problems
    return size


def targets(result: dict) -> list[dict]:
    by_n = {s["journeys"]: s for s in result["sizes"]}
    found = []

    def add(name, size, value, goal, met, unit=""):
        found.append({"target": name, "journeys": size, "value": value, "goal": goal, "met": met, "unit": unit})

    if 10_000_000 in by_n:
        s = by_n[10_000_000]
        if "ca_vs_truce" in s["ratios"]:
            r = s["ratios"]["ca_vs_truce"]
            add(
                "Markov: ChannelAttribution's pipeline ÷ truce", 10_000_000, r, f"≥ {CA_SPEED:.0f}×", r >= CA_SPEED, "×"
            )
        r = s["ratios"]["truce_vs_floor"]
        add("Markov: truce ÷ DuckDB GROUP BY floor", 10_000_000, r, f"≤ {FLOOR_RATIO:.1f}×", r <= FLOOR_RATIO, "×")
        peak = s["runs"]["truce"]["peak_mib"]
        add("peak memory of truce's Markov", 10_000_000, peak, f"≤ {PEAK_MIB} MiB", peak <= PEAK_MIB, " MiB")
    if 1_000_000 in by_n and "mam_vs_truce" in by_n[1_000_000]["ratios"]:
        r = by_n[1_000_000]["ratios"]["mam_vs_truce"]
        add("Shapley: MAM ÷ truce", 1_000_000, r, f"≥ {MAM_SPEED:.0f}×", r >= MAM_SPEED, "×")
    return found


def table(result: dict) -> str:
    m, state = result["host"], result["machine"]
    lines = [
        f"attribution: long tables in Parquet, seed {result['seed']}, median of {result['repeat']} "
        f"(a run over {LONG_RUN_S:.0f} s is not repeated)",
        f"host: {m['nproc']} CPUs ({m.get('cpu', '?')}), {m.get('ram_gib', '?')} GiB RAM, Python {m['python']}; "
        + ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "",
        f"{'journeys':>10} {'rows':>11} {'floor s':>8} {'truce s':>8} {'÷floor':>7} {'CA s':>8} {'(paths)':>8} "
        f"{'CA÷truce':>9} {'Δshare pp':>9} {'tr.Shap s':>9} {'MAM s':>8} {'MAM÷tr':>7} {'Δrel':>8} "
        f"{'peak MiB':>9} {'load':>5}",
    ]

    def cell(value, fmt, width):
        return f"{'-':>{width}}" if value is None else f"{value:{width}{fmt}}"

    for s in result["sizes"]:
        b, r, runs = s["median"], s["ratios"], s["runs"]
        lines.append(
            f"{s['journeys']:>10,} {s['rows']:>11,} {cell(b.get('floor'), '.2f', 8)} {cell(b.get('truce'), '.2f', 8)} "
            f"{cell(r.get('truce_vs_floor'), '.2f', 6)}× {cell(b.get('ca'), '.2f', 8)} "
            f"{cell(runs.get('ca', {}).get('build_seconds'), '.2f', 8)} {cell(r.get('ca_vs_truce'), '.1f', 8)}× "
            f"{cell(r.get('ca_gap_conversions_pp'), '.3f', 9)} {cell(b.get('truce_shapley'), '.2f', 9)} "
            f"{cell(b.get('mam'), '.2f', 8)} {cell(r.get('mam_vs_truce'), '.1f', 6)}× "
            f"{cell(r.get('mam_gap_revenue'), '.1e', 8)} {cell(runs['truce']['peak_mib'], '.0f', 9)} "
            f"{max(run['load_1min'] for run in runs.values()):>5.1f}"
        )
    lines += [
        "",
        "floor: DuckDB GROUP BY journey_id to Arrow; truce: file_report(file, 'markov'); CA: polars path table +",
        "markov_model(order=1, max_step=100); (paths): its path-table seconds; Δshare pp: max |truce − CA| conversion",
        "share; tr.Shap: file_report(file, 'shapley'); MAM: read + MAM(session) + run_shapley(max_size=12);",
        "Δrel: largest relative gap of a channel's Shapley revenue credit; peak: truce's Markov child (VmHWM).",
        "",
    ]
    missed = []
    for t in result["targets"]:
        value = f"{t['value']:.0f}" if t["unit"] == " MiB" else f"{t['value']:.2f}"
        lines.append(
            f"target {t['target']} at {t['journeys']:,}: {value}{t['unit']} (goal {t['goal']}): {t['verdict']}"
        )
        if not t["met"]:
            missed.append(t["target"])
    for note in result["skipped"]:
        lines.append(f"skipped: {note}")
    for s in result["sizes"]:
        r = s["ratios"]
        if "ca_gap_conversions_pp" in r:
            lines.append(
                f"{s['journeys']:,}: truce's exact Markov vs ChannelAttribution's simulation: max |Δ share| "
                f"{r['ca_gap_conversions_pp']:.3f} pp (conversions), {r['ca_gap_revenue_pp']:.3f} pp (revenue); "
                f"{s['runs']['ca']['distinct_paths']:,} distinct paths"
            )
        if "mam_gap_conversions" in r:
            lines.append(
                f"{s['journeys']:,}: truce's Shapley vs MAM's: largest relative gap {r['mam_gap_conversions']:.1e} "
                f"(conversions), {r['mam_gap_revenue']:.1e} (revenue) over {s['runs']['mam']['channel_sets']:,} "
                "converting channel sets"
            )
        cpu = ", ".join(f"{name} {seconds:.2f}" for name, seconds in s["median_cpu"].items())
        ratios = ", ".join(
            f"{label} {r[key]:.2f}×"
            for key, label in (
                ("truce_vs_floor_cpu", "truce ÷ floor"),
                ("ca_vs_truce_cpu", "CA ÷ truce"),
                ("mam_vs_truce_cpu", "MAM ÷ truce"),
            )
            if key in r
        )
        lines.append(f"{s['journeys']:,}: CPU seconds (all threads, median of the runs): {cpu}; {ratios}")
        peaks = ", ".join(f"{name} {run['peak_mib']:.0f}" for name, run in s["runs"].items())
        lines.append(f"{s['journeys']:,}: peak MiB: {peaks}")
    lines.append("")
    for s in result["sizes"]:
        for problem in s["problems"]:
            lines.append(f"WRONG RESULT at {s['journeys']:,}: {problem}")
    lines.append("")
    for s in result["sizes"]:
        for run in s["runs"].values():
            lines.append(f"machine: {machine.describe(run['machine_state'])}")
    lines.append(machine.summary(result))
    busy = "" if state == "quiet" else " (on a busy machine: not counted)"
    if not result["targets"]:
        lines.append("no target at these sizes (they are at 1e6 and 1e7 journeys)")
    else:
        lines.append(
            f"TARGET MISSED: {'; '.join(missed)}{busy}"
            if missed
            else f"every measured target {machine.verdict(True, state)}"
        )
    return "\n".join(lines)


def host() -> dict:
    from importlib import metadata

    import truce

    info = {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "truce_source": str(Path(truce.__file__).parent),
        "versions": {},
    }
    for name in (
        "duckdb",
        "numpy",
        "pyarrow",
        "polars",
        "pandas",
        "ChannelAttribution",
        "marketing-attribution-models",
    ):
        try:
            info["versions"][name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    try:
        with open("/proc/meminfo") as meminfo:
            total = next(line for line in meminfo if line.startswith("MemTotal:"))
        info["ram_gib"] = round(int(total.split()[1]) / 1024**2, 1)
        with open("/proc/cpuinfo") as cpuinfo:
            info["cpu"] = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "")
    except (OSError, StopIteration):
        pass
    try:
        source = Path(truce.__file__).parent
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=source, capture_output=True, text=True, check=True
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--", "."], cwd=source, capture_output=True, text=True, check=True
        ).stdout.strip()
        info["src_changed"] = len(changed.splitlines())
    except (OSError, subprocess.CalledProcessError):
        info["commit"] = "(not a git checkout)"
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="1e5,1e6,1e7", help="journeys per file, comma-separated (default 1e5,1e6,1e7)"
    )
    parser.add_argument(
        "--shapley-sizes", default="1e6", help="sizes at which Shapley is compared with MAM (default 1e6)"
    )
    parser.add_argument("--quick", action="store_true", help="--sizes 1e5 --shapley-sizes 1e5 --repeat 1")
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each; the median counts")
    parser.add_argument(
        "--data", "--out", type=Path, default=DEFAULT_DATA, help="where the files go (default bench/out/attribution/)"
    )
    parser.add_argument("--skip-reference", action="store_true", help="no ChannelAttribution, no MAM")
    parser.add_argument("--skip-ca", action="store_true", help="no ChannelAttribution")
    parser.add_argument("--skip-mam", action="store_true", help="no MAM")
    parser.add_argument(
        "--ca-paths",
        choices=("polars-lazy", "polars"),
        default="polars-lazy",
        help="how ChannelAttribution's path table is built (default polars-lazy: scan_parquet … collect)",
    )
    parser.add_argument(
        "--ca-nsim", type=float, default=1e5, help="markov_model's nsim_start (default 1e5, its own default)"
    )
    parser.add_argument("--rebuild", action="store_true", help="generate the files again")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.child:
        spec = json.loads(sys.stdin.read())
        result = CHILDREN[spec["kind"]](spec)
        result["peak_mib"] = _peak_mib()
        result["cpu_seconds"] = CPU_SECONDS
        print("RESULT " + json.dumps(result), flush=True)
        return 0

    if args.quick:
        args.sizes, args.shapley_sizes, args.repeat = "1e5", "1e5", 1
    sizes = [int(float(x)) for x in args.sizes.split(",") if x.strip()]
    shapley_sizes = {int(float(x)) for x in args.shapley_sizes.split(",") if x.strip()}
    folder = args.data.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    lock = open(folder / ".lock", "w")  # noqa: SIM115 - held until the process exits
    try:
        import fcntl

        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:
        pass
    except OSError:
        raise SystemExit(f"another attribution benchmark is using {folder}; wait for it or pass --data DIR") from None

    result = {
        "benchmark": "attribution",
        "command": " ".join(["python", "bench/attribution.py", *(argv if argv is not None else sys.argv[1:])]),
        "seed": args.seed,
        "repeat": args.repeat,
        "host": host(),
        "sizes": [],
        "skipped": [],
    }
    ca = not (args.skip_reference or args.skip_ca)
    mam = not (args.skip_reference or args.skip_mam)
    if not ca:
        result["skipped"].append("ChannelAttribution")
    if not mam:
        result["skipped"].append("MAM")
    for n in sizes:
        path = data_file(folder, n, args.seed)
        facts_file = path.with_suffix(".json")
        if args.rebuild or not (path.is_file() and facts_file.is_file()):
            print(f"generating {n:,} journeys …", file=sys.stderr, flush=True)
            began = time.perf_counter()
            facts = in_child({"kind": "generate", "n": n, "seed": args.seed, "path": str(path)})
            facts_file.write_text(json.dumps(facts))
            print(f"  {time.perf_counter() - began:.1f} s", file=sys.stderr)
        facts = json.loads(facts_file.read_text())
        base = {"path": str(path), "repeat": args.repeat}
        plan = [("floor", {"kind": "floor"}), ("truce", {"kind": "truce", "model": "markov"})]
        if ca:
            plan.append(("ca", {"kind": "ca", "paths": args.ca_paths, "nsim": args.ca_nsim}))
        if n in shapley_sizes:
            plan.append(("truce_shapley", {"kind": "truce", "model": "shapley"}))
            if mam:
                plan.append(("mam", {"kind": "mam"}))
        runs = {}
        for name, spec in plan:
            print(f"{n:,} journeys: {name} …", file=sys.stderr, flush=True)
            with machine.measured(f"{n:,} journeys: {name}") as m:
                runs[name] = in_child({**base, **spec})
            # load_1min: the 1-minute load average after the measurement (the key the table used before).
            runs[name] |= {"load_1min": m.record["after"]["load_1min"], "machine_state": m.record}
            print(
                f"  median {statistics.median(runs[name]['seconds']):.2f} s of {len(runs[name]['seconds'])}, "
                f"peak {runs[name]['peak_mib']:.0f} MiB, load {runs[name]['load_1min']:.1f}, machine {m.record['machine']}",
                file=sys.stderr,
                flush=True,
            )
        result["sizes"].append(judge({**facts, "runs": runs}))
    result |= machine.overall([run["machine_state"] for s in result["sizes"] for run in s["runs"].values()])
    result["targets"] = [t | {"verdict": machine.verdict(t["met"], result["machine"])} for t in targets(result)]
    (folder / "attribution.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 1 if any(s["problems"] for s in result["sizes"]) else 0


if __name__ == "__main__":
    raise SystemExit(main())
