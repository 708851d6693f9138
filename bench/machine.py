"""The machine's state around each measurement, and whether the machine was quiet for it.

    import machine                          # bench/ is on sys.path when a script runs as python bench/x.py
    with machine.measured("truce import") as m:
        ...                                 # the measurement
    m.record                                # label, seconds, before, after, machine: quiet|busy, reasons
    machine.overall([m.record, ...])        # {"machine": "quiet"|"busy", "machine_reasons": [...]}
    machine.verdict(met, "busy")            # "met on a busy machine — not counted; re-run on a quiet machine"

A sample (`sample()`) holds the 1-minute load average, the number of cores, Linux's CPU pressure
(`some avg10` of /proc/pressure/cpu: the share of the last 10 s in which a runnable task waited for
a core; null, with the reason, where the file is missing) and this benchmark's own part of the load
average and of the cores.

The rule (`judge`): a measurement is quiet when, both before and after it,
  - the 1-minute load average, less this benchmark's own part of it, is below 1, and
  - the CPU pressure (some avg10) is below 10 %;
otherwise it is busy, with the reasons ("load 2.31 before"). A run is quiet when every measurement
in it is, and a target is stated as met only from a quiet run (`verdict`).

Why so:
- Below 1 of other work's load: on the 2-core machines we measure on, another busy process would
  hold a whole core.
- 10 % pressure: on an idle machine it stays near 0 (a daemon waking now and then); at 10 %
  something waited for a core one second in ten, about what a CPU-bound measurement would lose.
- The benchmark's own part is taken off because the load average cannot tell whose work it counts:
  a measurement that keeps one core busy for a minute lifts it by 0.63 by itself, and a server with
  its clients keeps two or three processes busy. The part is estimated from the CPU time of this
  process and every process under it, decayed as the kernel decays the 1-minute average (a core
  busy for t seconds adds 1 - e^(-t/60)). Time its processes spend waiting for a core or the disk,
  and work done for it outside its own processes (a PostgreSQL server), are not in that CPU time, so
  they count as other work: the estimate can make a quiet machine read busy, not the other way.
- For the same reason pressure is not held against a sample when this benchmark's own processes
  kept all but half a core or more busy over the 10 s before it: the waiting may be their own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
import os
import time

LOAD_LIMIT = 1.0  # other work's 1-minute load average
PRESSURE_LIMIT = 10.0  # percent of the last 10 s with a runnable task waiting for a core
LOAD_SECONDS = 60.0  # the kernel's 1-minute average decays as e^(-t/60)
LOAD_LAG = 5.0  # the kernel updates the load average every 5 s
PRESSURE_SECONDS = 10.0  # the window of `some avg10`
PRESSURE_FILE = "/proc/pressure/cpu"


def cpu_pressure(path: str = PRESSURE_FILE) -> tuple[float | None, str | None]:
    """`some avg10` of the CPU's pressure stall information, or None and why not."""
    try:
        with open(path, encoding="ascii") as pressure:
            for line in pressure:
                if line.startswith("some "):
                    return float(dict(part.split("=") for part in line.split()[1:])["avg10"]), None
    except FileNotFoundError:
        return None, f"{path} is missing: not Linux, a kernel before 4.20, or pressure stall information off (psi=1)"
    except (OSError, ValueError, KeyError) as exc:
        return None, f"{path} unreadable: {exc}"
    return None, f"{path} has no 'some' line"


def own_cpu_seconds() -> float:
    """CPU seconds of this process, the children it has waited for, and every live process under it."""
    try:
        parent_and_time = {}
        tick = os.sysconf("SC_CLK_TCK")
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    fields = stat.read().rsplit(b")", 1)[1].split()  # the name, in parentheses, may hold spaces
            except OSError:
                continue  # it ended meanwhile
            # Fields 4 and 14-17 of stat: the parent; utime, stime, cutime, cstime (waited-for children).
            parent_and_time[int(entry.name)] = (int(fields[1]), sum(int(x) for x in fields[11:15]) / tick)
    except OSError:
        import resource

        return sum(
            u.ru_utime + u.ru_stime for u in map(resource.getrusage, (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
        )
    children: dict[int, list[int]] = {}
    for pid, (parent, _) in parent_and_time.items():
        children.setdefault(parent, []).append(pid)
    total, waiting = 0.0, [os.getpid()]
    while waiting:
        pid = waiting.pop()
        total += parent_and_time.get(pid, (0, 0.0))[1]
        waiting += children.get(pid, [])
    return total


def own_load(history: list[tuple[float, float]], lag: float = LOAD_LAG) -> float:
    """This benchmark's part of the 1-minute load average at the last of `history`'s
    (monotonic seconds, own CPU seconds) points: its CPU use between points, each stretch decayed
    as the kernel decays the average. The last `lag` seconds are left out: the kernel updates the
    average every 5 s, so it may not count them yet (leaving them out errs towards busy)."""
    now = history[-1][0] - lag
    part = 0.0
    for (t0, c0), (t1, c1) in zip(history, history[1:], strict=False):
        if t0 < now and t1 > t0:
            rate = (c1 - c0) / (t1 - t0)
            part += rate * (math.exp((min(t1, now) - now) / LOAD_SECONDS) - math.exp((t0 - now) / LOAD_SECONDS))
    return part


def own_cores(history: list[tuple[float, float]], seconds: float = PRESSURE_SECONDS) -> float:
    """Cores this benchmark's processes kept busy on average since the last point at least
    `seconds` before the latest one (the first point if none is that old)."""
    now, used = history[-1]
    then, used_then = next(((t, c) for t, c in reversed(history) if t <= now - seconds), history[0])
    return (used - used_then) / (now - then) if now > then else 0.0


_history: list[tuple[float, float]] = [(time.monotonic(), own_cpu_seconds())]  # from the benchmark's start


def sample() -> dict:
    """The machine's state now (the values `judge` reads)."""
    _history.append((time.monotonic(), own_cpu_seconds()))
    pressure, missing = cpu_pressure()
    state = {
        "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "load_1min": round(os.getloadavg()[0], 2),
        "cores": os.cpu_count() or 1,
        "cpu_pressure_some_avg10": pressure,
        "own_load": round(own_load(_history), 2),
        "own_cores": round(own_cores(_history), 2),
    }
    if missing:
        state["cpu_pressure_missing"] = missing
    return state


def judge(before: dict, after: dict) -> tuple[str, list[str]]:
    """Quiet or busy by the rule above, and the reasons it is busy."""
    reasons = []
    for when, state in (("before", before), ("after", after)):
        load, own = state["load_1min"], state.get("own_load", 0.0)
        if load - own >= LOAD_LIMIT:
            reasons.append(
                f"load {load:.2f} {when}" + (f" ({load - own:.2f} not this benchmark's)" if own >= 0.01 else "")
            )
        pressure = state.get("cpu_pressure_some_avg10")
        maybe_own = state.get("own_cores", 0.0) >= state["cores"] - 0.5
        if pressure is not None and pressure >= PRESSURE_LIMIT and not maybe_own:
            reasons.append(f"CPU pressure {pressure:.1f} % {when}")
    return ("busy" if reasons else "quiet"), reasons


class Measurement:
    """What `measured` knows about one measurement; `record` is filled when it ends."""

    def __init__(self, label: str):
        self.label = label
        self.record: dict = {}


@contextlib.contextmanager
def measured(label: str):
    """Sample the machine before and after the block, and judge it (the result is `.record`)."""
    measurement = Measurement(label)
    before = sample()
    started = time.perf_counter()
    yield measurement
    seconds = time.perf_counter() - started
    after = sample()
    state, reasons = judge(before, after)
    measurement.record = {"label": label, "seconds": round(seconds, 3), "before": before, "after": after,
                          "machine": state, "reasons": reasons}  # fmt: skip


def overall(records: list[dict]) -> dict:
    """A run is quiet when every measurement in it was; busy with every measurement's reasons otherwise."""
    reasons = [f"{r['label']}: {reason}" for r in records for reason in r["reasons"]]
    if not records:
        reasons = ["no measurement recorded the machine's state"]
    return {"machine": "busy" if reasons else "quiet", "machine_reasons": reasons}


def verdict(met: bool, state: str) -> str:
    """A target's verdict: evidence only from a quiet run."""
    if state == "quiet":
        return "met (quiet run)" if met else "MISSED (quiet run)"
    return f"{'met' if met else 'MISSED'} on a busy machine — not counted; re-run on a quiet machine"


def describe(record: dict) -> str:
    """One line: the verdict, load and pressure before → after, and why it was busy."""
    b, a = record["before"], record["after"]

    def pressure(state: dict) -> str:
        value = state.get("cpu_pressure_some_avg10")
        return "n/a" if value is None else f"{value:.1f} %"

    line = (
        f"{record['label']}: {record['machine']} (load {b['load_1min']:.2f} → {a['load_1min']:.2f}, this benchmark's "
        f"{b['own_load']:.2f} → {a['own_load']:.2f}; CPU pressure {pressure(b)} → {pressure(a)}; {a['cores']} cores)"
    )
    return line + (f": {'; '.join(record['reasons'])}" if record["reasons"] else "")


def summary(state: dict) -> str:
    """One line for a run: "machine: quiet", or "machine: busy — " and its first reasons."""
    if state["machine"] == "quiet":
        return "machine: quiet (every measurement: load less this benchmark's own < 1, CPU pressure < 10 %)"
    reasons = state["machine_reasons"]
    more = f" (and {len(reasons) - 2} more)" if len(reasons) > 2 else ""
    return f"machine: busy — {'; '.join(reasons[:2])}{more}"
