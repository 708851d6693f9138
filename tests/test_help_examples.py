"""Every `truce` command's --help example runs on the demo, or says what outside thing it needs.

The examples are the lines after "Example:" / "Examples:" in each command's help. Each must run
the command it is the help of, and all of them run in one demo company built once, in the order
of ORDER (commands that make what a later example uses first), in-process through Typer's
CliRunner. Tests/test_docs.py checks every command has an "Example" at all; this checks it works.
"""

from __future__ import annotations

import re
import shlex
import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from truce.cli import app

EXAMPLES = Path(__file__).parent.parent / "examples"

# Examples that need something outside truce and the demo, and why they are not run.
NEEDS = {
    "truce connect": "a HubSpot or Salesforce account and its credentials",
    "truce sync": "a connected CRM",
    "truce connections revoke": "a connected CRM",
    "truce connections rejects": "a connected CRM",
    "truce connections writes": "a connected CRM",
    "truce serve": "runs until stopped (tests/test_readme_tour.py starts and stops it)",
    "truce worker": "runs until stopped",
    "truce demo --serve": "runs until stopped (tests/test_readme_tour.py starts and stops it)",
    "truce score refresh --db postgresql://": "a PostgreSQL server",
    "truce db upgrade --db postgresql://": "a PostgreSQL server",
    "export ": "a shell's environment, not a truce command",
}

# Commands whose examples run before the others, because later examples use what they make;
# and last, the ones that take the demo apart.
FIRST = (
    "truce init",
    "truce import",
    "truce demo",
    "truce discount request",
    "truce feedback add",
    "truce handoff assign",
    "truce meeting start",
    "truce meeting decide",
    "truce token create",
)
LAST = ("truce user deactivate", "truce user activate", "truce db downgrade")

TYPED = {  # what a person types at the prompts
    "truce survey take": "4\n" * 20,
    "truce user add": "correct-horse-battery\n" * 2,
    "truce user password": "correct-horse-battery\n" * 2,
}


def _commands(group, prefix: str = "truce"):
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):
            yield from _commands(command, path)
        else:
            yield path, command


COMMANDS = dict(_commands(typer.main.get_command(app)))


def help_examples(help_text: str) -> list[str]:
    """The example command lines of one help text: after "Example:" on its line, or the indented
    lines under "Examples:"; `a && b` and `a   or   b` give two."""
    found, listing = [], False
    for line in help_text.splitlines():
        stripped = line.strip()
        if listing and stripped and line.startswith((" ", "\t")):
            found.append(stripped)
            continue
        listing = False
        if stripped.startswith("Examples:"):
            listing = True
        elif stripped.startswith("Example:"):
            found.append(stripped.removeprefix("Example:").strip())
    return [
        part.strip()
        for example in found
        for alternative in re.split(r"\s{2,}or\s{2,}", example)
        for part in alternative.split("&&")
        if part.strip()
    ]


def _command_of(example: str) -> str:
    """The command path an example runs: its leading words that name a command."""
    words = shlex.split(example, comments=True)
    for size in range(len(words), 1, -1):
        if " ".join(words[:size]) in COMMANDS:
            return " ".join(words[:size])
    return ""


def needs(example: str) -> str | None:
    return next((why for start, why in NEEDS.items() if example.startswith(start)), None)


def _rank(path: str) -> tuple[int, int, str]:
    for order, group in ((0, FIRST), (2, LAST)):
        for index, start in enumerate(group):
            if path.startswith(start):
                return (order, index, path)
    return (1, 0, path)


EVERY_EXAMPLE = sorted(
    ((path, example) for path, command in COMMANDS.items() for example in help_examples(command.help or "")),
    key=lambda pair: _rank(pair[0]),
)


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_it_gives_every_command_an_example_that_runs_it(path):
    own = [e for e in help_examples(COMMANDS[path].help or "") if _command_of(e) == path or needs(e)]
    assert own, f"{path} --help has no example of {path} itself: {help_examples(COMMANDS[path].help or '')}"


def test_it_reads_examples_as_the_help_writes_them():
    text = "Does things.\n\nExample:  truce a --x 1   or   truce a --y\n\nExamples:\n  truce b\n  truce c && truce d\n"
    assert help_examples(text) == ["truce a --x 1", "truce a --y", "truce b", "truce c", "truce d"]


@pytest.mark.slow
def test_it_runs_every_help_example_on_the_demo(tmp_path, monkeypatch):
    for name in ("TRUCE_DATABASE_URL", "TRUCE_CONFIG", "TRUCE_USER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.chdir(tmp_path)
    for example in EXAMPLES.iterdir():
        shutil.copy(example, tmp_path / example.name)  # the examples name files as if run from examples/
    runner = CliRunner()
    built = runner.invoke(app, ["demo"])
    assert built.exit_code == 0, built.output
    failed = []
    for _path, example in EVERY_EXAMPLE:
        if needs(example):
            continue
        words = shlex.split(example, comments=True)
        typed = next((text for start, text in TYPED.items() if example.startswith(start)), None)
        done = runner.invoke(app, words[1:], input=typed)
        if done.exit_code != 0:
            failed.append(f"{example}\n    exits {done.exit_code}: {(done.output or repr(done.exception)).strip()[-400:]}")
    assert not failed, f"{len(failed)} help examples fail on the demo:\n" + "\n".join(failed)
