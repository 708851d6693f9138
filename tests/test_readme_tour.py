"""The README's tour runs as written: every `truce` line of its bash blocks, in order, on the demo
its first command builds, in a fresh folder holding the examples it names.

A line fails the test when it exits non-zero, and when the lines below it that start with `#>`
(what the README says you will see) are no longer in what it printed. Servers (`truce serve`,
`truce demo --serve`) are started, asked for their first page and stopped with Ctrl-C's signal.
Blocks fenced as ```bash needs-crm are shown to readers but not run (NOT_RUN says why).
CI runs this file (scripts/test runs every test; nothing here is skipped).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"

# Fenced blocks a reader sees but the test does not run, and why.
NOT_RUN = {"needs-crm": "needs a HubSpot account and a private app's token"}

# Lines of the runnable blocks that are not `truce` commands, and what the test does instead.
SETUP = {
    # The install line: the test's own interpreter already has truce; only its demo is built.
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/truce demo": "truce demo",
    # The venv's bin is first on the PATH of every line the test runs.
    "source .venv/bin/activate": None,
    # The test suite itself.
    "scripts/test": None,
}

# What a person types at a prompt, for the commands that ask.
TYPED = {
    "truce survey take": "4\n" * 20,  # twenty ratings
    "truce user add": "correct-horse-battery\ncorrect-horse-battery\n",  # the password, twice
}

COLUMNS = "200"  # wide enough that no table cuts an email the README shows
COMMAND_SECONDS = 180
SERVER_SECONDS = 60


@dataclass
class Line:
    text: str  # as the README writes it
    number: int  # its line in README.md
    expected: list[str] = field(default_factory=list)  # the `#>` lines under it


def readme_blocks(text: str) -> list[tuple[str, int, list[tuple[int, str]]]]:
    """Every fenced block: (info string, first line number, [(line number, line)])."""
    blocks, info, start, body = [], None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if info is None:
                info, start, body = line[3:].strip(), number, []
            else:
                blocks.append((info, start, body))
                info = None
        elif info is not None:
            body.append((number, line))
    return blocks


def tour_lines(text: str) -> list[Line]:
    """The lines of the README's runnable bash blocks, in order, each with its expected output."""
    lines: list[Line] = []
    for info, start, body in readme_blocks(text):
        words = info.split()
        if not words or words[0] != "bash":
            continue
        marks = words[1:]
        unknown = [m for m in marks if m not in NOT_RUN]
        assert not unknown, f"README.md line {start}: a bash block marked {unknown}; NOT_RUN knows {list(NOT_RUN)}"
        if marks:
            continue
        for number, raw in body:
            stripped = raw.strip()
            if stripped.startswith("#>"):
                assert lines, f"README.md line {number}: `#>` under no command"
                lines[-1].expected.append(stripped[2:].strip())
            elif stripped and not stripped.startswith("#"):
                lines.append(Line(stripped, number))
    return lines


def runnable(line: Line) -> str | None:
    """The command the test runs for a README line, or None for a set-up line it leaves out."""
    command = " ".join(shlex.split(line.text, comments=True))
    if command in SETUP:
        return SETUP[command]
    assert command.startswith("truce "), (
        f"README.md line {line.number}: the tour test does not know how to run {line.text!r}; "
        "write a truce command, or add the line to SETUP in tests/test_readme_tour.py"
    )
    return line.text


def is_server(command: str) -> bool:
    words = shlex.split(command, comments=True)
    return words[:2] == ["truce", "serve"] or (words[:2] == ["truce", "demo"] and "--serve" in words)


def on_free_port(command: str) -> tuple[str, int]:
    """The server command on a port nobody uses: the README's port may be taken on a shared machine."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    if re.search(r"--port[ =]\d+", command):
        return re.sub(r"--port[ =]\d+", f"--port {port}", command), port
    code, hash_, comment = command.partition(" #")
    return f"{code.rstrip()} --port {port}" + (f" {hash_}{comment}" if hash_ else ""), port


def shell_env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUCE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(COLUMNS=COLUMNS, NO_COLOR="1", TERM="dumb", HOME=str(folder))
    return env


def flat(text: str) -> str:
    return " ".join(text.split())




def run_command(command: str, folder: Path, line: Line) -> str:
    typed = next((text for prefix, text in TYPED.items() if command.startswith(prefix)), "")
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=folder,
        env=shell_env(folder),
        input=typed,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
        start_new_session=True,  # no terminal: a hidden prompt reads what TYPED gives it
    )
    printed = done.stdout + done.stderr
    assert done.returncode == 0, (
        f"README.md line {line.number} exits {done.returncode}: {line.text}\n{printed[-3000:]}"
    )
    return printed


def run_server(command: str, folder: Path, line: Line) -> str:
    command, port = on_free_port(command)
    log = folder / f"server-{line.number}.log"
    with open(log, "w") as out:
        server = subprocess.Popen(
            ["bash", "-c", f"exec {command}"],
            cwd=folder,
            env=shell_env(folder),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        page = _first_page(port, server, log, line)
    finally:
        _stop(server)
    assert "truce" in page, f"README.md line {line.number}: {line.text} served a page without truce on it"
    return log.read_text()


def _first_page(port: int, server: subprocess.Popen, log: Path, line: Line) -> str:
    deadline = time.monotonic() + SERVER_SECONDS
    while time.monotonic() < deadline:
        assert server.poll() is None, (
            f"README.md line {line.number} stopped ({server.returncode}) before serving: {line.text}\n"
            + log.read_text()[-3000:]
        )
        # As a browser asks: it is sent on to the log-in page.
        asked = urllib.request.Request(f"http://127.0.0.1:{port}/", headers={"Accept": "text/html"})
        try:
            with urllib.request.urlopen(asked, timeout=10) as answer:
                return answer.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as refused:
            raise AssertionError(f"README.md line {line.number}: / answered {refused.code}: {line.text}") from None
        except OSError:  # not listening yet
            time.sleep(0.5)
    raise AssertionError(f"README.md line {line.number} served nothing in {SERVER_SECONDS} s: {line.text}")


def _stop(server: subprocess.Popen) -> None:
    """Ctrl-C, as a reader stops it; the server was started here, in its own process group."""
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGINT)
    try:
        server.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


# ---- tests ----------------------------------------------------------------------------------------


def test_it_finds_the_tour_in_the_readme():
    lines = tour_lines(README.read_text(encoding="utf-8"))
    commands = [runnable(line) for line in lines]
    assert commands[0] == "truce demo", "the README's first command builds the demo"
    assert sum(1 for c in commands if c) >= 30
    assert sum(len(line.expected) for line in lines) >= 10


def test_it_names_only_example_files_that_ship():
    named = set(re.findall(r"examples/[\w.-]+", README.read_text(encoding="utf-8")))
    named.discard("examples/leads.rejects.csv")  # written by the tour, not shipped
    assert named, "the README names no example files"
    assert sorted(n for n in named if not (ROOT / n).is_file()) == []


def test_it_ships_a_journeys_parquet_holding_the_rows_of_its_csv():
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    shipped = pq.read_table(EXAMPLES / "journeys.parquet").to_pylist()
    written = pacsv.read_csv(EXAMPLES / "journeys.csv").to_pylist()
    assert len(shipped) == len(written) == 24
    for parquet_row, csv_row in zip(shipped, written, strict=True):
        assert parquet_row["journey_id"] == csv_row["journey_id"]
        assert parquet_row["timestamp"] == csv_row["timestamp"]
        assert parquet_row["channel"] == csv_row["channel"]
        assert parquet_row["converted"] == csv_row["converted"]
        assert parquet_row["revenue"] == csv_row["revenue"]


@pytest.mark.slow
def test_it_runs_every_command_of_the_readme_tour_as_written(tmp_path):
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    for line in tour_lines(README.read_text(encoding="utf-8")):
        command = runnable(line)
        if command is None:
            continue
        printed = (run_server if is_server(command) else run_command)(command, tmp_path, line)
        shown = flat(printed)
        for expected in line.expected:
            assert flat(expected) in shown, (
                f"README.md line {line.number}: {line.text}\nshould print {expected!r}, printed:\n{printed[-3000:]}"
            )
