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


def _api_routes() -> list[tuple[str, str]]:
    """Every route of the OpenAPI document: the API's public contract."""
    from truce import config as truce_config
    from truce.store import db
    from truce.web.app import create_app

    app = create_app(db.connect("sqlite://"), truce_config.parse(truce_config.default_text(), "truce.toml"))
    return sorted((method.upper(), path) for path, item in app.openapi()["paths"].items() for method in item)


def test_every_rest_route_is_in_the_api_docs():
    documented = (Path(__file__).parent.parent / "docs" / "api.md").read_text(encoding="utf-8")
    routes = _api_routes()
    assert routes, "the app has no API routes"
    missing = [f"{method} {path}" for method, path in routes if f"| {method} | `{path}` |" not in documented]
    assert not missing, f"routes missing from docs/api.md: {missing}"


def test_the_permission_docs_match_the_permission_table():
    from truce.domain.access import PERMISSIONS, ROLES

    documented = (Path(__file__).parent.parent / "docs" / "permissions.md").read_text(encoding="utf-8")
    for action, roles in PERMISSIONS.items():
        row = next(line for line in documented.splitlines() if line.startswith(f"| `{action}` |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")][2:]
        assert cells == ["yes" if role in roles else "—" for role in ROLES], action


def test_the_docs_give_the_range_of_dates_and_periods_the_code_keeps():
    import datetime as dt

    from truce.domain.calendar_range import FIRST_DAY, LAST_DAY

    # The last ISO week that ends within the range, worked out here rather than read from the code.
    last_sunday = LAST_DAY - dt.timedelta(days=(LAST_DAY.weekday() + 1) % 7)
    year, week, _ = last_sunday.isocalendar()
    edges = [FIRST_DAY.isoformat(), LAST_DAY.isoformat(), f"{FIRST_DAY.year}-W01", f"{year}-W{week:02d}"]
    for name in ("api.md", "cli.md"):
        documented = (Path(__file__).parent.parent / "docs" / name).read_text(encoding="utf-8")
        assert all(edge in documented for edge in edges), (name, edges)
