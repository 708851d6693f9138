"""Every command is documented in docs/cli.md and carries an example in its --help."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from truce.cli import app

DOCS = (Path(__file__).parent.parent / "docs" / "cli.md").read_text(encoding="utf-8")


def _commands(group, prefix: str = "truce"):
    for name, command in sorted(group.commands.items()):
        path = f"{prefix} {name}"
        if hasattr(command, "commands"):  # a group of subcommands
            yield from _commands(command, path)
        else:
            yield path, command


COMMANDS = list(_commands(typer.main.get_command(app)))


def test_there_are_commands_to_document():
    assert len(COMMANDS) >= 8


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_a_section_in_the_cli_docs(path, command):
    assert f"### `{path}`" in DOCS, f"docs/cli.md has no section for {path}"


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_shows_an_example_in_its_help(path, command):
    assert "Example" in (command.help or ""), f"{path} --help has no example"
