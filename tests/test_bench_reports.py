"""bench/reports.py: it runs at a tiny size, says what it measured, and a failing report fails the run."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "bench" / "reports.py"
TINY = ["--sizes", "2000", "--reports", "funnel,sla", "--repeat", "1", "--json"]


def _load_bench():
    # The script imports bench/machine.py as a top-level module, as it does when run from its folder.
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        spec = importlib.util.spec_from_file_location("bench_reports", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPT.parent))
    return module


bench = _load_bench()


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *TINY, "--out", str(out), *extra],
        capture_output=True, text=True, env=env, timeout=240,
    )  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("bench-reports")
    done = _run(out)
    return out, done


@pytest.mark.slow
def test_it_measures_each_report_against_its_floor_at_a_tiny_size(tiny_run):
    _, done = tiny_run
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["machine"] in ("quiet", "busy") and isinstance(result["machine_reasons"], list)
    (size,) = result["sizes"]
    assert size["contacts"] == 2000 and size["build"]["tables"]["contacts"] == 2000
    assert list(size["reports"]) == ["funnel", "sla"]
    for name, report in size["reports"].items():
        assert report["error"] is None and len(report["runs"]) == 1
        assert report["wall_seconds"] > 0 and report["cpu_seconds"] > 0 and report["max_rss_mib"] > 10
        assert report["runs"][0]["machine"]["machine"] in ("quiet", "busy")
        floor = report["floor"]
        assert floor["columns"] == sum(len(c) for c in bench.READS[name].values())
        assert 0 < floor["scan_seconds"] < floor["wall_seconds"]
        assert report["ratio"] == round(report["wall_seconds"] / floor["wall_seconds"], 1)
        assert report["cpu_ratio"] == round(report["cpu_seconds"] / floor["cpu_seconds"], 1)
        assert report["verdict"].startswith(("met", "MISSED"))
    assert result["growth"] == {}  # one size: nothing to grow from
    assert "its floor: " in done.stderr and "machine:" in done.stderr


@pytest.mark.slow
def test_the_printed_hash_is_the_reports_own_output(tiny_run):
    # The same command run here, apart from the benchmark, must print the bytes it hashed.
    _, done = tiny_run
    report = json.loads(done.stdout)["sizes"][0]["reports"]["sla"]
    store = Path(json.loads(done.stdout)["sizes"][0]["store"])
    assert report["args"][-2:] == ["--db", str(store)]
    again = subprocess.run(
        [sys.executable, "-c", bench.TRUCE, *report["args"]], capture_output=True, cwd=store.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert hashlib.sha256(again.stdout).hexdigest() == report["sha256"]


@pytest.mark.slow
def test_a_failing_report_makes_the_run_exit_non_zero(tiny_run, tmp_path):
    out, _ = tiny_run
    broken = tmp_path / "truce.toml"
    broken.write_text("[funnel\n")  # not TOML: every report refuses it
    done = _run(out, "--config", str(broken))  # the store built by tiny_run is reused
    assert done.returncode == 1
    reports = json.loads(done.stdout)["sizes"][0]["reports"]
    for report in reports.values():
        assert report["error"].startswith("exit 1: error: ") and "not valid TOML" in report["error"]
        assert report["ratio"] is None and report["verdict"] is None  # no timing judged for a failed run
    assert "FAILED: 2000:funnel, 2000:sla" in done.stderr


def test_every_column_a_floor_reads_is_a_column_the_export_writes():
    from truce.services.export import exported_columns

    for report, reads in bench.READS.items():
        for table, columns in reads.items():
            written = {c.name for c in exported_columns(table)}
            assert set(columns) <= written, (report, table, set(columns) - written)


def test_growth_is_judged_against_the_datas_own_growth():
    # Hand-worked: 10× the contacts allows 12×; 2 s → 30 s is 15× (missed), 1 s → 11 s is 11× (met).
    def size(contacts: int, brief: float, sla: float, funnel_error: str | None = None) -> dict:
        figures = {"brief": brief, "sla": sla, "funnel": 1.0}
        errors = {"funnel": funnel_error}
        return {"contacts": contacts,
                "reports": {name: {"wall_seconds": s, "error": errors.get(name)} for name, s in figures.items()}}  # fmt: skip

    found = bench.growth([size(100_000, 2.0, 1.0), size(1_000_000, 30.0, 11.0, funnel_error="exit 1: boom")])
    assert set(found) == {"brief", "sla"}  # a report that failed at either size has no growth
    assert found["brief"] == {"from": 100_000, "to": 1_000_000, "limit": 12.0, "ratio": 15.0}
    assert found["sla"]["ratio"] == 11.0
    judged = bench.judged({"machine": "quiet", "sizes": [], "growth": found})["growth"]
    assert judged["brief"]["verdict"] == "MISSED (quiet run)" and judged["sla"]["verdict"] == "met (quiet run)"


def test_every_report_is_pinned_to_the_stores_last_day():
    import datetime as dt

    as_of = dt.date(2026, 11, 30)
    assert bench.report_args("brief", as_of) == ["brief", "--period", "2026-W48", "--at", "2026-11-29"]
    assert bench.report_args("target", as_of) == ["target", "--period", "2026-Q4", "--at", "2026-11-29"]
    assert bench.report_args("sla", as_of) == ["sla", "--at", "2026-11-30T00:00Z"]
    assert bench.report_args("funnel", as_of)[-2:] == ["--to", "2026-11-29"]
    assert set(bench.REPORTS) == set(bench.READS) and set(bench.UNPINNED) == {"budget"}


def test_trace_comparison_names_what_a_report_reads_but_the_floor_does_not(capsys):
    listed = bench.READS["target"]
    assert bench._same_reads("target", dict(listed))
    more = {**listed, "targets": (*listed["targets"], "updated_at"), "users": ("id",)}
    assert not bench._same_reads("target", more)
    printed = capsys.readouterr().out
    assert "target: targets: read but not listed ['updated_at']; listed, not read []" in printed
    assert "target: users: read but not listed ['id']" in printed and printed.endswith("differs from READS\n")


def test_a_target_is_printed_as_met_only_from_a_quiet_run():
    assert bench.target_line("met (quiet run)") == "TARGET MET (quiet run)"
    assert bench.target_line("MISSED (quiet run)") == "TARGET MISSED (quiet run)"
    busy_met, busy_missed = bench.machine.verdict(True, "busy"), bench.machine.verdict(False, "busy")
    assert "TARGET" not in bench.target_line(busy_met) and "not counted" in bench.target_line(busy_met)
    assert bench.target_line(busy_missed).startswith("TARGET MISSED on a busy machine")
    assert bench.target_line(None) == "not judged: the report failed"
