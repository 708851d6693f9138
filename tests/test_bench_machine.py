"""bench/machine.py: when a measurement counts as taken on a quiet machine, and that every benchmark asks."""

from __future__ import annotations

import ast
import importlib.util
import math
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench"


def _load_machine():
    # Benchmarks import it as a top-level module from their own folder; load it the same way here.
    spec = importlib.util.spec_from_file_location("machine", BENCH / "machine.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


machine = _load_machine()


def state(load: float, pressure: float | None = 0.0, own: float = 0.0, own_cores: float = 0.0, cores: int = 2):
    return {"load_1min": load, "cores": cores, "cpu_pressure_some_avg10": pressure, "own_load": own,
            "own_cores": own_cores}  # fmt: skip


def test_an_idle_machine_is_quiet():
    assert machine.judge(state(0.4, 1.2), state(0.7, 3.0)) == ("quiet", [])


def test_load_before_or_after_makes_it_busy_and_says_so():
    assert machine.judge(state(2.31), state(0.5)) == ("busy", ["load 2.31 before"])
    assert machine.judge(state(0.5), state(1.0)) == ("busy", ["load 1.00 after"])  # the limit itself is busy


def test_the_benchmarks_own_load_is_not_held_against_it():
    # Two busy processes of its own left the load at 1.8 after: quiet; the same 1.8 with only 0.5 its own: busy.
    assert machine.judge(state(0.3), state(1.8, own=1.3)) == ("quiet", [])
    assert machine.judge(state(0.3), state(1.8, own=0.5)) == ("busy", ["load 1.80 after (1.30 not this benchmark's)"])


def test_cpu_pressure_makes_it_busy_unless_the_benchmark_itself_filled_the_cores():
    assert machine.judge(state(0.2, pressure=63.93), state(0.2)) == ("busy", ["CPU pressure 63.9 % before"])
    assert machine.judge(state(0.2), state(0.2, pressure=10.0)) == ("busy", ["CPU pressure 10.0 % after"])
    assert machine.judge(state(0.2), state(0.2, pressure=9.9)) == ("quiet", [])
    # Its own processes kept 1.7 of 2 cores busy: the waiting may be theirs; the load still judges the others.
    assert machine.judge(state(0.2), state(1.9, pressure=40.0, own=1.5, own_cores=1.7)) == ("quiet", [])
    assert machine.judge(state(0.2), state(1.2, pressure=40.0, own_cores=1.0)) == (
        "busy",
        ["load 1.20 after", "CPU pressure 40.0 % after"],
    )


def test_without_pressure_information_the_load_alone_judges():
    assert machine.judge(state(0.2, pressure=None), state(0.3, pressure=None)) == ("quiet", [])
    assert machine.judge(state(3.0, pressure=None), state(0.3, pressure=None))[0] == "busy"


def test_a_run_is_quiet_only_when_every_measurement_was():
    quiet = {"label": "baseline", "machine": "quiet", "reasons": []}
    busy = {"label": "truce", "machine": "busy", "reasons": ["load 2.31 before"]}
    assert machine.overall([quiet, quiet]) == {"machine": "quiet", "machine_reasons": []}
    assert machine.overall([quiet, busy]) == {"machine": "busy", "machine_reasons": ["truce: load 2.31 before"]}
    assert machine.overall([])["machine"] == "busy"


def test_a_target_is_met_only_on_a_quiet_run():
    assert machine.verdict(True, "quiet") == "met (quiet run)"
    assert machine.verdict(False, "quiet") == "MISSED (quiet run)"
    assert machine.verdict(True, "busy") == "met on a busy machine — not counted; re-run on a quiet machine"
    assert machine.verdict(False, "busy").startswith("MISSED on a busy machine")


def test_own_load_decays_as_the_kernels_one_minute_average():
    # One core busy for 60 s lifts the average by 1 - 1/e; a minute idle after it leaves 1/e of that.
    busy_minute = [(0.0, 0.0), (60.0, 60.0)]
    assert machine.own_load(busy_minute, lag=0) == pytest.approx(1 - math.exp(-1))
    assert machine.own_load([*busy_minute, (120.0, 60.0)], lag=0) == pytest.approx((1 - math.exp(-1)) * math.exp(-1))
    # Two cores for 30 s; the last 5 s are left out by default (the kernel may not count them yet).
    assert machine.own_load([(0.0, 0.0), (30.0, 60.0)], lag=0) == pytest.approx(2 * (1 - math.exp(-0.5)))
    assert machine.own_load([(0.0, 0.0), (30.0, 60.0)]) == pytest.approx(2 * (1 - math.exp(-25 / 60)))
    assert machine.own_load([(0.0, 0.0)]) == 0.0


def test_own_cores_over_the_last_ten_seconds():
    history = [(0.0, 0.0), (100.0, 10.0), (105.0, 18.0), (112.0, 32.0)]
    assert machine.own_cores(history) == pytest.approx((32.0 - 10.0) / 12.0)  # since the point at 100 s
    assert machine.own_cores([(0.0, 0.0), (4.0, 2.0)]) == pytest.approx(0.5)  # younger than 10 s: from the start


def test_cpu_pressure_is_read_or_missing_with_a_reason(tmp_path):
    path = tmp_path / "cpu"
    path.write_text(
        "some avg10=12.50 avg60=3.00 avg300=1.00 total=123\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n"
    )
    assert machine.cpu_pressure(str(path)) == (12.5, None)
    value, why = machine.cpu_pressure(str(tmp_path / "none"))
    assert value is None and "missing" in why


def test_a_measurement_records_the_state_before_and_after():
    with machine.measured("nothing") as m:
        pass
    record = m.record
    assert record["label"] == "nothing" and record["machine"] in ("quiet", "busy")
    for key in ("before", "after"):
        assert {"load_1min", "cores", "cpu_pressure_some_avg10", "own_load", "own_cores"} <= set(record[key])
    assert (record["machine"] == "busy") == bool(record["reasons"])
    assert machine.describe(record).startswith(f"nothing: {record['machine']} (load ")


SCRIPTS = sorted(p for p in BENCH.glob("*.py") if p.name != "machine.py")


def test_there_are_benchmarks_to_check():
    assert len(SCRIPTS) >= 7


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_judges_the_machine(script):
    """A new benchmark cannot forget it: it imports the helper, measures through it, and reports the run's state."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    imported = any(
        isinstance(node, ast.Import) and any(alias.name == "machine" for alias in node.names) for node in ast.walk(tree)
    )
    called = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "machine"
    }
    assert imported, f"{script.name} does not `import machine`"
    assert "measured" in called, f"{script.name} measures nothing through machine.measured"
    assert "overall" in called, f"{script.name} does not report the run's machine state (machine.overall)"
    no_load = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "getloadavg"]
    assert not no_load, f"{script.name} reads os.getloadavg() itself (line {no_load[0]}): use machine.sample()"
