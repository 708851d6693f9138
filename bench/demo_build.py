"""How long `truce demo` takes to build the demo company, against another truce in the same run.

    python bench/demo_build.py                                   # 100,000 contacts, SQLite
    python bench/demo_build.py --contacts 1000000
    python bench/demo_build.py --pg-url postgresql+psycopg://postgres@127.0.0.1:54371/postgres
    python bench/demo_build.py --baseline-src /tmp/truce-old/src   # `git archive <commit> src | tar -x -C /tmp/truce-old`

Each build is `truce demo --contacts N --as-of 2026-11-20 --json` in a child process of its own
(wall seconds, the child's CPU seconds, its peak memory), on a fresh SQLite file and, with
--pg-url, a fresh PostgreSQL database (emptied first). With --baseline-src the same builds run
with that source tree's truce first, and the ratio of the two is printed: on a busy machine the
ratio and the CPU seconds mean more than the wall seconds. Every measurement is judged quiet or
busy (bench/machine.py).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import machine  # bench/machine.py (this script's folder is on sys.path)

SRC = Path(__file__).resolve().parent.parent / "src"
AS_OF = "2026-11-20"
PG_DATABASE = "truce_bench_demo"
# The CLI in a child that says its own peak memory as it exits (the children's rusage keeps only the largest).
CHILD = (
    "import atexit, resource, sys\n"
    "atexit.register(lambda: sys.stderr.write(f'\\npeak_kib {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n'))\n"
    "from truce.cli import main\n"
    "main()\n"
)


def _fresh_postgres(url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
        conn.execute(text(f"CREATE DATABASE {PG_DATABASE}"))
    admin.dispose()
    return make_url(url).set(database=PG_DATABASE).render_as_string(hide_password=False)


def build(src: Path, contacts: int, url: str) -> dict:
    """One `truce demo` in a child process: wall and CPU seconds, peak memory (the child's VmHWM)."""
    command = [sys.executable, "-c", CHILD, "demo", "--contacts", str(contacts), "--as-of", AS_OF, "--json"]
    env = dict(os.environ, PYTHONPATH=str(src), TRUCE_DATABASE_URL=url)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"truce demo failed ({src}):\n{done.stderr[-2000:]}")
    built = json.loads(done.stdout)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    peak_kib = int(done.stderr.rsplit("peak_kib ", 1)[1].split()[0])
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_mib": peak_kib / 1024, "tables": built["tables"]}


def measure(label: str, src: Path, contacts: int, url: str) -> dict:
    print(f"  {label} …", file=sys.stderr, flush=True)
    with machine.measured(label) as m:
        result = build(src, contacts, url)
    print(f"    {result['seconds']:.1f} s, CPU {result['cpu_seconds']:.1f} s; machine {m.record['machine']}",
          file=sys.stderr)  # fmt: skip
    return {"label": label, **result, "machine_state": m.record}


def targets(pg_url: str | None, folder: Path, sqlite: bool = True) -> list[tuple[str, str]]:
    found = [("sqlite", f"sqlite:///{folder / 'demo.db'}")] if sqlite else []
    return found + ([("postgresql", pg_url)] if pg_url else [])


def run(args) -> dict:
    runs = []
    with tempfile.TemporaryDirectory(prefix="truce-demo-bench-") as folder:
        for backend, url in targets(args.pg_url, Path(folder), not args.no_sqlite):
            for name, src in (("baseline", args.baseline_src), ("truce", SRC)):
                if src is None:
                    continue
                for leftover in Path(folder).glob("demo.db*"):
                    leftover.unlink()
                target = _fresh_postgres(url) if backend == "postgresql" else url
                runs.append(
                    {"backend": backend, "run": name, **measure(f"{backend} {name}", src, args.contacts, target)}
                )
    if args.baseline_src:
        for run_ in runs:
            base = next(r for r in runs if r["backend"] == run_["backend"] and r["run"] == "baseline")
            run_["vs_baseline"] = base["seconds"] / run_["seconds"]
            run_["cpu_vs_baseline"] = base["cpu_seconds"] / run_["cpu_seconds"]
    state = machine.overall([r["machine_state"] for r in runs])
    return {"benchmark": "demo_build", "contacts": args.contacts, "as_of": AS_OF, "runs": runs, **state}


def table(result: dict) -> str:
    lines = [
        f"demo_build: truce demo --contacts {result['contacts']:,} --as-of {result['as_of']}",
        "",
        f"{'backend':<11} {'run':<9} {'seconds':>8} {'CPU s':>7} {'peak MiB':>9} {'speed-up':>9} {'CPU':>6}  machine",
    ]
    for r in result["runs"]:
        ratio = f"{r['vs_baseline']:>8.2f}x {r['cpu_vs_baseline']:>5.2f}x" if "vs_baseline" in r else f"{'':>9} {'':>6}"
        lines.append(
            f"{r['backend']:<11} {r['run']:<9} {r['seconds']:>8.1f} {r['cpu_seconds']:>7.1f} "
            f"{r['peak_mib']:>9.0f} {ratio}  {r['machine_state']['machine']}"
        )
    lines.append("")
    lines += [f"machine: {machine.describe(r['machine_state'])}" for r in result["runs"]]
    lines.append(machine.summary(result))
    return "\n".join(lines)  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--pg-url", help="a PostgreSQL server; the database truce_bench_demo is dropped and made")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    parser.add_argument("--baseline-src", type=Path, help="another truce's src/ folder to build with first")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    result = run(args)
    print(json.dumps(result, indent=2, default=str) if args.json else table(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
